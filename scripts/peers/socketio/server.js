// Socket.IO's getting-started chat server (socket.io/get-started/chat): every "chat message" a
// client emits is emitted to every client, sender included, over both of Engine.IO's transports
// (HTTP long-polling, and WebSocket by upgrade or directly). Additions for benchmarks, all off
// unless asked: a client that emits "join" with a room id hears that room only; RECOVERY=1 turns
// on connection-state recovery; TRANSPORTS=polling serves polling only (as behind a proxy that
// cannot pass WebSocket). It listens on loopback only.
//
// usage: node server.js PORT   (PING_INTERVAL, PING_TIMEOUT in ms; RECOVERY=1; TRANSPORTS=a,b)
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const options = {
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
  maxHttpBufferSize: 1e6,
};
if (process.env.TRANSPORTS) {
  options.transports = process.env.TRANSPORTS.split(',');
}
if (process.env.RECOVERY === '1') {
  options.connectionStateRecovery = { maxDisconnectionDuration: 2 * 60 * 1000 };
}
const server = http.createServer();
const io = new Server(server, options);

io.on('connection', (socket) => {
  socket.on('join', (room) => {
    socket.data.room = String(room);
    socket.join(socket.data.room);
  });
  socket.on('chat message', (msg) => {
    const room = socket.data.room;
    (room === undefined ? io : io.to(room)).emit('chat message', msg);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});

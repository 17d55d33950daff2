// The classic Node `ws` chat server from the tutorial this project grew from (../shared/seed):
// every message a client sends is broadcast to every open client with the prefix
// "服务器收到了：", and each new client gets a welcome text. Only the port is configurable, and
// it listens on loopback only (wsbench never aims load anywhere else).
const WebSocket = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8080);
// PER_MESSAGE_DEFLATE=1 turns on `ws`'s permessage-deflate with its defaults (messages under
// 1024 bytes still go uncompressed, the library's threshold).
const perMessageDeflate = process.env.PER_MESSAGE_DEFLATE === '1';
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate });

wss.on('connection', function connection(ws) {
  console.log('有新客户端连接了！');

  ws.on('message', function incoming(message) {
    console.log('收到消息：', message.toString());

    wss.clients.forEach(function each(client) {
      if (client.readyState === WebSocket.OPEN) {
        client.send(`服务器收到了：${message}`);
      }
    });
  });

  ws.send('欢迎连接WebSocket服务器！');
});

wss.on('listening', () => console.log(`WebSocket服务器已启动，监听端口${wss.address().port}`));

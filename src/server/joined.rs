//! A server instance joined to the shared log ([`crate::backplane`]): the hub hands its publishes
//! to the log of their room and takes each room's entries back, numbered; the accept loop ends if
//! the log is lost.
//!
//! Every room the hub has gets its own relay: the lobby (room 0) at once, any other room when a
//! client first names it ([`Hub::on_new_room`](hub::Hub::on_new_room)), so an instance reads the
//! streams of the rooms its clients are in, and no others.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::TcpListener;

use super::relay::{Codec, Failures, Relays};
use super::{Instance, ServerError, accept_until, hub};
use crate::protocol::RoomId;

/// An instance's link to the log: every room's relay (stopped when this is dropped), and where
/// they report failing.
#[derive(Debug)]
pub(super) struct Joined<M> {
    /// The one strong handle (the hub's hooks hold weak ones), so the relays stop with the server.
    relays: Arc<Relays<M>>,
    failures: Failures,
}

/// How long a stopping instance waits for the log to take what its clients published last.
const FLUSH: Duration = Duration::from_secs(2);

impl<M: Send + 'static> Joined<M> {
    /// Waits (within [`FLUSH`]) until the log holds every publish this instance queued for it,
    /// then stops the relays: what a client published while its connection drained is not lost
    /// with the instance.
    pub(super) async fn flush(self) {
        self.relays.flush(FLUSH).await;
    }
}

/// Joins `holder`'s hub (reached with `hub`) to the shared log when there is one: publishes go
/// to their room's log, each room's entries come back numbered into the hub, every stream bounded
/// like the ring.
pub(super) async fn join_log<M, H>(
    backplane: Option<&Instance>,
    ring_capacity: usize,
    codec: Codec<M>,
    holder: &Arc<H>,
    hub: fn(&H) -> &hub::Hub<M>,
) -> Result<Option<Joined<M>>, ServerError>
where
    M: Clone + Send + 'static,
    H: Send + Sync + 'static,
{
    let Some(instance) = backplane else {
        return Ok(None);
    };
    let (relays, failures) = Relays::connect(
        &instance.url,
        instance.keys.clone(),
        ring_capacity,
        codec,
        instance.stats.clone(),
    )
    .await?;
    let relays = Arc::new(relays);
    let start = {
        let (relays, holder) = (Arc::downgrade(&relays), Arc::downgrade(holder));
        move |room: &hub::Room| {
            if let Some(relays) = relays.upgrade() {
                relays.join(room.id().0, deliver(holder.clone(), room.clone(), hub));
            }
        }
    };
    let rooms = hub(holder);
    // The lobby and the rooms a restored hub already has now, then each room as it is made.
    rooms.room(RoomId::LOBBY)?;
    for id in rooms.room_ids() {
        start(&rooms.room(id)?);
    }
    rooms.on_new_room(start);
    let outlet = Arc::downgrade(&relays);
    rooms.forward_to(move |room, message, stored| {
        if let Some(relays) = outlet.upgrade() {
            relays.send(room.0, message, stored);
        }
    });
    Ok(Some(Joined { relays, failures }))
}

/// What a room's ingest does with an entry: store it at its number in the room, while the server
/// is there.
fn deliver<M, H>(
    holder: Weak<H>,
    room: hub::Room,
    hub: fn(&H) -> &hub::Hub<M>,
) -> impl Fn(u64, M) + Send + 'static
where
    M: Clone + Send + 'static,
    H: Send + Sync + 'static,
{
    move |seq, message| {
        if let Some(holder) = holder.upgrade() {
            hub(&holder).publish_at(&room, seq, message);
        }
    }
}

/// [`accept_until`], also ending (with its error) if the shared log fails: an instance cut off
/// from the log can neither publish nor deliver.
pub(super) async fn accept_while_joined<M: Send + 'static>(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    joined: Option<&mut Joined<M>>,
    on_accept: impl FnMut(tokio::net::TcpStream),
) -> Result<(), ServerError> {
    let Some(joined) = joined else {
        return accept_until(listener, shutdown, on_accept).await;
    };
    let mut lost = None;
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            e = joined.failures.first() => lost = Some(e),
        }
    };
    accept_until(listener, stop, on_accept).await?;
    lost.map_or(Ok(()), |e| Err(ServerError::Backplane(e)))
}

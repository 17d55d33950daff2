//! A server instance joined to the shared log ([`crate::backplane`]): the hub hands its publishes
//! to the log and takes the log's entries back, numbered; the accept loop ends if the log is lost.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Instance, ServerError, accept_until, hub};
use crate::backplane::{Codec, Relay};

/// Joins `holder`'s hub (reached with `hub`) to the shared log when there is one: publishes go
/// to the log, the log's entries come back numbered into the hub. Room 0, bounded like the ring.
pub(super) async fn join_log<M, H>(
    backplane: Option<&Instance>,
    ring_capacity: usize,
    codec: Codec<M>,
    holder: &Arc<H>,
    hub: fn(&H) -> &hub::Hub<M>,
) -> Result<Option<Relay<M>>, ServerError>
where
    M: Clone + Send + 'static,
    H: Send + Sync + 'static,
{
    let Some(instance) = backplane else {
        return Ok(None);
    };
    let target = holder.clone();
    let relay = Relay::start(
        &instance.url,
        0,
        ring_capacity,
        codec,
        instance.stats.clone(),
        move |seq, message| {
            hub(&target).publish_at(seq, message);
        },
    )
    .await?;
    hub(holder).forward_to(relay.outlet());
    Ok(Some(relay))
}

/// [`accept_until`], also ending (with its error) if the shared log fails: an instance cut off
/// from the log can neither publish nor deliver.
pub(super) async fn accept_while_joined<M: Send + 'static>(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    relay: Option<&mut Relay<M>>,
    on_accept: impl FnMut(tokio::net::TcpStream),
) -> Result<(), ServerError> {
    let Some(relay) = relay else {
        return accept_until(listener, shutdown, on_accept).await;
    };
    let mut lost = None;
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            e = relay.failed() => lost = Some(e),
        }
    };
    accept_until(listener, stop, on_accept).await?;
    lost.map_or(Ok(()), |e| Err(ServerError::Backplane(e)))
}

//! A TCP proxy a test puts between two servers, to break the link between them the ways a
//! network does: lose everything (a black hole, a hung peer), hold bytes back and deliver them
//! late (a stalled link), or lose only the answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Pass,
    /// Bytes in either direction vanish.
    BlackHole,
    /// Requests that arrive now reach the server this much later (answers pass).
    Stall(Duration),
    /// Requests pass; answers vanish.
    DropAnswers,
}

pub struct Proxy {
    pub port: u16,
    link: Arc<Mutex<Link>>,
    target: Arc<Mutex<Option<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens at once; forwards only once [`Proxy::forward_to`] names the server.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(Mutex::new(Link::Pass));
        let target = Arc::new(Mutex::new(None));
        let task = tokio::spawn(accept(listener, link.clone(), target.clone()));
        Proxy { port, link, target, task }
    }

    pub fn forward_to(&self, url: &str) {
        let addr = url.trim_start_matches("http://").parse().unwrap();
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr);
    }

    pub fn set(&self, link: Link) {
        *self.link.lock().unwrap_or_else(PoisonError::into_inner) = link;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now(link: &Mutex<Link>) -> Link {
    *link.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept(listener: TcpListener, link: Arc<Mutex<Link>>, target: Arc<Mutex<Option<SocketAddr>>>) {
    while let Ok((client, _)) = listener.accept().await {
        let Some(addr) = *target.lock().unwrap_or_else(PoisonError::into_inner) else { continue };
        let Ok(server) = TcpStream::connect(addr).await else { continue };
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        tokio::spawn(pump(client_read, server_write, link.clone(), true));
        tokio::spawn(pump(server_read, client_write, link.clone(), false));
    }
}

/// Copies one direction chunk by chunk, each chunk treated as the link is when it arrives; a
/// stalled chunk holds back the ones behind it, as on a real connection.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: Arc<Mutex<Link>>, request: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let deliver_at = match (now(&link), request) {
            (Link::Pass, _) | (Link::Stall(_), false) | (Link::DropAnswers, true) => None,
            (Link::BlackHole, _) | (Link::DropAnswers, false) => continue,
            (Link::Stall(delay), true) => Some(Instant::now() + delay),
        };
        if let Some(at) = deliver_at {
            tokio::time::sleep_until(at).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

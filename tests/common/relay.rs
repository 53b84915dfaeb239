//! A TCP relay in front of the server that a test can cut.
//!
//! One client goes through the relay while others talk to the server
//! directly. [`Relay::cut`] drops every connection through it and refuses
//! new ones until [`Relay::mend`]: a network partition between that one
//! client and a server that keeps serving — what a watcher must survive
//! (it resumes from a resourceVersion the server may have forgotten).
//! TLS passes through untouched; the relay listens on 127.0.0.1 like the
//! server, so the server's certificate fits.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    /// The port clients connect to instead of the server's.
    pub port: u16,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying 127.0.0.1:`port` (the server's) on a free port.
    pub async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *cut_rx.borrow() {
                    // Refused: closed before the TLS handshake.
                    continue;
                }
                let mut changed = cut_rx.clone();
                changed.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    // Any change while connected is a cut: this connection
                    // was opened while the relay was whole.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = changed.changed() => {}
                    }
                });
            }
        });
        Relay { port, cut, task }
    }

    /// Drops every connection through the relay and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

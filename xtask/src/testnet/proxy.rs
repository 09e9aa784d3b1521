//! The link between two hosts: a TCP forwarding proxy in this process, so that delay, loss and
//! partitions work on a kernel without `netem`.
//!
//! Host `a` dials the link's port on the bridge; the proxy dials host `b` from `a`'s source
//! address and pumps bytes both ways, each chunk held until `delay` after it was read. TCP never
//! loses bytes, it resends them: a lost chunk here is held one retransmission timeout longer
//! (Linux's least, 200 ms, plus the delay), and everything behind it waits, as behind a lost
//! segment. A cut link closes its connections and refuses new ones at once, as a host that is
//! unreachable does.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// What a link does to what crosses it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Shape {
    pub cut: bool,
    pub delay: Duration,
    /// The chance that a chunk is lost (and resent), 0.0 to 1.0.
    pub loss: f64,
}

/// The retransmission timeout a lost chunk waits on top of the delay (Linux's `TCP_RTO_MIN`).
const RTO: Duration = Duration::from_millis(200);

pub(crate) struct Link {
    pub port: u16,
    shape: Arc<Mutex<Shape>>,
    /// Both ends of every connection the link carries, to close them when it is cut.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    /// Listens on `listen` (port 0: any) and forwards every connection to `to`, dialed from
    /// `from`. The link lives as long as this process: a testnet is one run.
    pub(crate) fn start(
        listen: Ipv4Addr,
        from: Ipv4Addr,
        to: SocketAddrV4,
        seed: u64,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((listen, 0))?;
        let port = listener.local_addr()?.port();
        let shape = Arc::new(Mutex::new(Shape::default()));
        let open = Arc::new(Mutex::new(Vec::new()));
        let link = Self { port, shape: shape.clone(), open: open.clone() };
        thread::spawn(move || {
            let mut seed = seed;
            for inbound in listener.incoming().flatten() {
                if lock(&shape).cut {
                    continue; // dropped: closed at once
                }
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let (shape, open) = (shape.clone(), open.clone());
                thread::spawn(move || {
                    let _ = connect(inbound, from, to, &shape, &open, seed);
                });
            }
        });
        Ok(link)
    }

    /// Gives the link a new shape; cutting it closes what it carries.
    pub(crate) fn set(&self, shape: Shape) {
        *lock(&self.shape) = shape;
        if shape.cut {
            for stream in lock(&self.open).drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn connect(
    inbound: TcpStream,
    from: Ipv4Addr,
    to: SocketAddrV4,
    shape: &Arc<Mutex<Shape>>,
    open: &Arc<Mutex<Vec<TcpStream>>>,
    seed: u64,
) -> io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&SocketAddr::V4(to).into(), Duration::from_secs(2))?;
    let outbound: TcpStream = socket.into();
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    {
        let mut open = lock(open);
        // Forget connections that have ended (a peer that redials makes a new one each time).
        open.retain(|s| s.peer_addr().is_ok());
        open.push(inbound.try_clone()?);
        open.push(outbound.try_clone()?);
    }
    let there = (inbound.try_clone()?, outbound.try_clone()?, shape.clone());
    thread::spawn(move || pump(there.0, there.1, &there.2, seed));
    pump(outbound, inbound, shape, seed ^ 0x5555_5555_5555_5555);
    Ok(())
}

/// Copies `from` to `to`, each chunk held until its time; ends both when either side does.
fn pump(mut from: TcpStream, to: TcpStream, shape: &Mutex<Shape>, seed: u64) {
    let (send, receive) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let mut to = to.try_clone();
        thread::spawn(move || {
            let Ok(to) = to.as_mut() else { return };
            for (due, bytes) in receive {
                thread::sleep(due.saturating_duration_since(Instant::now()));
                if to.write_all(&bytes).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let mut rng = seed | 1;
    let mut last = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let shape = *lock(shape);
        if shape.cut {
            break;
        }
        let mut due = Instant::now() + shape.delay;
        // xorshift64: a draw in [0, 1).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if ((rng >> 11) as f64 / (1u64 << 53) as f64) < shape.loss {
            due += RTO + shape.delay;
        }
        due = due.max(last);
        last = due;
        if send.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(send);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real connection through a link: bytes arrive in order, after the delay; a cut closes
    /// it and refuses the next.
    #[test]
    fn a_link_delays_and_cuts() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(to) = server.local_addr().unwrap() else { unreachable!() };
        let link = Link::start(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, to, 1).unwrap();
        link.set(Shape { delay: Duration::from_millis(150), ..Shape::default() });
        let mut client = TcpStream::connect(("127.0.0.1", link.port)).unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        let sent = Instant::now();
        client.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        assert!(sent.elapsed() >= Duration::from_millis(150), "{:?}", sent.elapsed());

        link.set(Shape { cut: true, ..Shape::default() });
        let mut rest = Vec::new();
        accepted.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(accepted.read_to_end(&mut rest).unwrap(), 0, "a cut link kept its connection");
        let mut again = TcpStream::connect(("127.0.0.1", link.port)).unwrap();
        again.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(again.read(&mut got).unwrap_or(0), 0, "a cut link let a connection through");
    }
}

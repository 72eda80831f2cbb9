//! A TCP transfer across a pair, B → A: its data goes one way, its ACKs the
//! other, and it is over (both FINs acknowledged) when it returns.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;

use crate::net::netns::{in_ns, spawn_in_ns};

/// Connects from namespace `ns_b` to `at` in namespace `ns_a` and sends
/// `len` bytes, then closes: A reads to the end and closes too, and B's
/// final ACK has gone out before its read sees A's FIN (tcp_fin acks, then
/// wakes the reader). B's port.
pub fn transfer(ns_a: &str, at: SocketAddr, ns_b: &str, len: usize) -> u16 {
    let (listening, ready) = mpsc::channel();
    let sink = spawn_in_ns(ns_a, move || {
        let listener = TcpListener::bind(at).expect("listen");
        listening.send(()).unwrap();
        let conn = listener.accept().expect("accept").0;
        std::io::copy(&mut &conn, &mut std::io::sink()).expect("read the transfer")
    });
    ready.recv().unwrap();
    let port = in_ns(ns_b, move || {
        let mut c = TcpStream::connect(at).expect("connect");
        c.write_all(&vec![7u8; len]).expect("write");
        c.shutdown(std::net::Shutdown::Write).unwrap();
        std::io::copy(&mut &c, &mut std::io::sink()).unwrap(); // until A closes
        c.local_addr().unwrap().port()
    });
    assert_eq!(
        sink.join().unwrap(),
        len as u64,
        "A read the whole transfer"
    );
    port
}

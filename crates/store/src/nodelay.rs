//! TCP_NODELAY on this process's PostgreSQL connections.
//!
//! sqlx 0.9.0 opens TCP connections with Nagle's algorithm on (a regression: launchbadge/sqlx
//! issue 4335, fixed upstream by pull request 4336, not yet released). A statement larger than
//! the socket's send buffer — a page's bulk upsert, a payload body — then ends in a short
//! segment that waits for PostgreSQL's delayed ACK: up to 40 ms per statement, which halved the
//! ingest rate. sqlx gives no access to its sockets, so after each new pool connection this
//! module finds the process's TCP sockets connected to the database's port and turns Nagle off
//! on them (every other TCP client we use already does). Remove it when sqlx releases the fix.

use std::os::fd::{BorrowedFd, RawFd};

/// Turn Nagle's algorithm off on every TCP socket of this process whose peer port is `port`.
/// Returns how many sockets were switched (already switched ones are not counted). Best
/// effort: a socket that cannot be inspected is skipped.
pub(crate) fn disable_nagle_to_port(port: u16) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut switched = 0;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if is_socket && set_nodelay_if_peer_port(fd, port) {
            switched += 1;
        }
    }
    switched
}

#[allow(unsafe_code)]
fn set_nodelay_if_peer_port(fd: RawFd, port: u16) -> bool {
    // SAFETY: `fd` was listed in /proc/self/fd a moment ago and the borrow lives only for the
    // three socket calls below. If another thread closes it meanwhile, the calls fail with
    // EBADF, or reach whatever file reused the number: getpeername then fails or names another
    // peer, and at worst another TCP socket to the same port gets TCP_NODELAY, which is what
    // we want for it too. No memory is read or written through the descriptor.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&fd);
    let peer_port = sock
        .peer_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port());
    if peer_port != Some(port) || sock.tcp_nodelay().unwrap_or(true) {
        return false;
    }
    sock.set_tcp_nodelay(true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn switches_only_sockets_connected_to_the_port() {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let to_target = TcpStream::connect(target.local_addr().unwrap()).unwrap();
        let to_other = TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(
            !to_target.nodelay().unwrap(),
            "a new socket starts with Nagle on"
        );

        let port = target.local_addr().unwrap().port();
        assert!(disable_nagle_to_port(port) >= 1);
        assert!(to_target.nodelay().unwrap());
        assert!(!to_other.nodelay().unwrap(), "other peers are left alone");
        // Already switched: nothing more to do.
        assert_eq!(disable_nagle_to_port(port), 0);
    }
}

import CLibPQ
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread that waits on every connection's socket at once (Linux `epoll`), and runs the work of the tasks
/// that wait on it: the executor of every body lent by `ConnectionPool.withAsyncConnection`.
///
/// A statement sent without blocking parks its task here until the server's answer arrives. No thread waits per
/// connection: one `epoll_wait` covers all of them, and when several answers arrive together one wake-up serves
/// them all. As a `TaskExecutor`, the poller also runs the tasks it resumes, on its own thread, so a body that
/// sends several statements goes from one to the next without a thread switch, and a transaction holding a lock
/// never waits for a free thread in Swift's cooperative pool (which CPU-heavy work elsewhere in the process can
/// keep busy). The price is that every lent body's CPU work shares this one thread, and that a body must never
/// block (a blocking libpq call would stall every connection's answers for its round trip).
///
/// Each wait arms its socket once (`EPOLLONESHOT`), so a readiness is reported to exactly one waiter.
final class SocketPoller: TaskExecutor, Sendable {
    /// The process's poller, started on first use.
    static let shared = SocketPoller()

    enum Interest {
        case readable
        /// Readable or writable: what libpq asks for while its output has not all gone out.
        case readableOrWritable
    }

    private let descriptor: Int32
    /// Written to wake the thread from `epoll_wait` when work arrives from another thread.
    private let wakeUp: Int32
    private let waiters = Mutex<[Int32: CheckedContinuation<Void, any Error>]>([:])
    /// Sockets added to the epoll set (the first wait adds a socket, later ones re-arm it).
    private let registered = Mutex<Set<Int32>>([])
    private let jobs = Mutex<Jobs>(Jobs())

    private struct Jobs: ~Copyable {
        var queue: [UnownedJob] = []
        /// True while the thread sleeps in `epoll_wait` (then a new job must wake it).
        var sleeping = false
    }

    private init() {
        descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(descriptor >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        wakeUp = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(wakeUp >= 0, "eventfd failed: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeUp
        precondition(epoll_ctl(descriptor, EPOLL_CTL_ADD, wakeUp, &event) == 0, "cannot watch the wake-up descriptor")
        // The poller lives as long as the process (`shared`), so the thread may hold it.
        let thread = Thread {
            // Named for top and perf (Linux keeps 15 characters; pthread_setname_np is not in Swift's Glibc).
            try? "handoff-poller".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            self.run()
        }
        thread.start()
    }

    // MARK: Running tasks

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake = jobs.withLock { jobs in
            jobs.queue.append(job)
            defer { jobs.sleeping = false }
            return jobs.sleeping
        }
        if wake {
            var one: UInt64 = 1
            _ = write(wakeUp, &one, 8)
        }
    }

    // MARK: Waiting for sockets

    /// Suspends until `socket` is readable (or, as asked, writable), or has failed: the caller then reads (or
    /// writes) and learns of a failure from libpq. Throws `.connectionLost` when the socket cannot be watched.
    ///
    /// A socket has at most one waiter at a time (a connection is used by one borrower at a time).
    func wait(for interest: Interest, on socket: Int32) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            waiters.withLock { $0[socket] = continuation }
            let flags = (interest == .readable ? EPOLLIN.rawValue : EPOLLIN.rawValue | EPOLLOUT.rawValue)
                | EPOLLONESHOT.rawValue | EPOLLRDHUP.rawValue
            var event = epoll_event()
            event.events = flags
            event.data.fd = socket
            let isNew = registered.withLock { $0.insert(socket).inserted }
            var result = epoll_ctl(descriptor, isNew ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
            if result != 0, errno == ENOENT || errno == EEXIST {
                // The socket number was closed and reused since it was last seen: register it afresh.
                result = epoll_ctl(descriptor, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
            }
            if result != 0 {
                let reason = String(cString: strerror(errno))
                if let waiter = waiters.withLock({ $0.removeValue(forKey: socket) }) {
                    waiter.resume(throwing: PostgresError(.connectionLost, message: "cannot watch the socket: \(reason)"))
                }
            }
        }
    }

    /// Stops watching `socket`; call before the socket closes, so a later socket with the same number starts clean.
    func forget(_ socket: Int32) {
        guard registered.withLock({ $0.remove(socket) }) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, socket, &event)
    }

    /// Runs queued jobs, then waits for sockets (without sleeping while jobs are queued), resumes their waiters
    /// (whose jobs come back to this queue), and so on for the life of the process.
    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        let executor = asUnownedTaskExecutor()
        while true {
            let batch = jobs.withLock { jobs in
                defer { jobs.queue.removeAll(keepingCapacity: true) }
                return jobs.queue
            }
            for job in batch {
                job.runSynchronously(on: executor)
            }
            let idle = jobs.withLock { jobs in
                jobs.sleeping = jobs.queue.isEmpty
                return jobs.sleeping
            }
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(descriptor, buffer.baseAddress, Int32(buffer.count), idle ? -1 : 0)
            }
            jobs.withLock { $0.sleeping = false }
            guard count > 0 else { continue }  // no socket ready, or EINTR
            var sockets: [Int32] = []
            for index in 0..<Int(count) {
                let socket = events[index].data.fd
                if socket == wakeUp {
                    var value: UInt64 = 0
                    _ = read(wakeUp, &value, 8)
                } else {
                    sockets.append(socket)
                }
            }
            let ready = waiters.withLock { waiting in sockets.compactMap { waiting.removeValue(forKey: $0) } }
            for waiter in ready {
                waiter.resume()
            }
        }
    }
}

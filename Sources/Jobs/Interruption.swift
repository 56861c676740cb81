import Dispatch
import Foundation
import Synchronization

/// What an interrupted process (SIGINT, SIGTERM) must undo before it exits: unfinished output
/// directories and files to remove, child processes to pass the signal on to. Jobs register what
/// they create while it is unfinished; ``install(what:)`` (called once by the command-line tool)
/// makes the signals remove it, say what was lost, and exit with 128 + the signal number.
public enum Interruption {
    struct State {
        var paths: [Int: URL] = [:]
        var children: [Int: pid_t] = [:]
        var actions: [Int: @Sendable () -> Void] = [:]
        var next = 0
    }

    private static let state = Mutex(State())
    private static let interrupting = Atomic<Bool>(false)

    /// Whether a signal is being handled (the process is about to exit).
    public static var isInterrupting: Bool { interrupting.load(ordering: .acquiring) }

    /// Parks the calling thread while an interruption is handled, so that it cannot report a
    /// child's death as a failure before the handler exits with the signal's status.
    public static func waitIfInterrupting() {
        while isInterrupting { sleep(1) }
    }
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Removes `url` if the process is interrupted before ``forget(_:)``; returns the ticket.
    public static func removeOnInterrupt(_ url: URL) -> Int {
        state.withLock { s in
            s.next += 1
            s.paths[s.next] = url
            return s.next
        }
    }

    /// Passes an interrupting signal on to `pid` until ``forget(_:)``; returns the ticket.
    public static func signalOnInterrupt(_ pid: pid_t) -> Int {
        state.withLock { s in
            s.next += 1
            s.children[s.next] = pid
            return s.next
        }
    }

    /// Runs `action` when the process is interrupted, before registered paths are removed (a
    /// training run saves its last finished step), until ``forget(_:)``; returns the ticket. The
    /// action runs on the signal's thread while the work goes on, so it must read only state it
    /// synchronises itself.
    public static func runOnInterrupt(_ action: @escaping @Sendable () -> Void) -> Int {
        state.withLock { s in
            s.next += 1
            s.actions[s.next] = action
            return s.next
        }
    }

    /// Whether the process `pid` no longer runs (files named after it are left-overs of a
    /// process killed outright). False for this process. A killed process whose parent has not
    /// reaped it yet (a zombie: its parent died too and the container's init reaps late) has
    /// ended as well, although `kill(pid, 0)` still finds it.
    public static func processHasEnded(_ pid: pid_t) -> Bool {
        if pid == getpid() { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        return isZombie(pid)
    }

    /// Whether `/proc/PID/stat` gives the state Z (zombie) or X (dead); false where it cannot be read.
    public static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses.
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state == "Z" || state == "X"
    }

    public static func forget(_ ticket: Int) {
        state.withLock { s in
            s.paths[ticket] = nil
            s.children[ticket] = nil
            s.actions[ticket] = nil
        }
    }

    /// Handles SIGINT and SIGTERM from now on: runs registered actions, signals registered
    /// children, waits up to 10 s for them, removes registered paths, writes
    /// `dlp VERB: interrupted by SIGINT; <what>` to stderr and exits with 130 (SIGINT) or 143 (SIGTERM). `what` says what was lost and how to resume.
    public static func install(verb: String, what: @escaping @Sendable () -> String) {
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                interrupting.store(true, ordering: .releasing)
                let (paths, children, actions) = state.withLock { s in
                    (Array(s.paths.values), Array(s.children.values), s.actions.sorted { $0.key < $1.key }.map(\.value))
                }
                for action in actions { action() }
                for pid in children { kill(pid, number) }
                let deadline = Date().addingTimeInterval(10)
                for pid in children {
                    var status: Int32 = 0
                    while waitpid(pid, &status, WNOHANG) == 0, Date() < deadline { usleep(20_000) }
                }
                for url in paths { try? FileManager.default.removeItem(at: url) }
                FileHandle.standardError.write(Data("\ndlp \(verb): interrupted by \(name); \(what())\n".utf8))
                // _exit, not exit: library destructors (OpenBLAS joins its threads) can deadlock
                // when run from this thread while the main thread is parked.
                fflush(nil)
                _exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }
}

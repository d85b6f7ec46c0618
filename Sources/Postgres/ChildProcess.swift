import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with `posix_spawn` and `waitpid`.
///
/// Foundation's `Process` can miss a child's exit when several run at once from different threads, and its pipes
/// are inherited by the daemons `pg_ctl` leaves behind; this does neither. Output goes to a file.
public enum ChildProcess {
    /// Runs a program to completion; returns its exit status and what it printed (stdout and stderr together).
    public static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try run(executable, arguments, separateErrors: false)
        return (result.status, result.output)
    }

    /// Runs a program to completion; returns its exit status, its stdout and its stderr. `environment` adds to
    /// (or replaces entries of) this process's environment for the child.
    public static func runSeparately(_ executable: String, _ arguments: [String], environment: [String: String] = [:])
        throws -> (status: Int32, stdout: String, stderr: String)
    {
        let result = try run(executable, arguments, separateErrors: true, environment: environment)
        return (result.status, result.stdout, result.stderr)
    }

    private static func run(
        _ executable: String, _ arguments: [String], separateErrors: Bool, environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String, stdout: String, stderr: String) {
        let outputPath = NSTemporaryDirectory() + "handoff-command-\(UUID().uuidString).log"
        let errorPath = separateErrors ? outputPath + ".err" : nil
        defer {
            unlink(outputPath)
            if let errorPath { unlink(errorPath) }
        }
        let pid = try spawn(
            executable, arguments, outputPath: outputPath, errorPath: errorPath, newSession: false,
            environment: environment)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw PostgresError(.connectionFailed, message: "waitpid failed for \(executable)") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let errors = errorPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, output, output, errors)
    }

    /// Starts a program with stdout and stderr going to the given files; returns its process id. Pair with
    /// `waitForExit(_:)`.
    public static func start(_ executable: String, _ arguments: [String], stdout: String, stderr: String) throws
        -> Int32
    {
        try spawn(executable, arguments, outputPath: stdout, errorPath: stderr, newSession: false)
    }

    /// Waits for a child started by `start` to end; returns its exit status, or 128 + the signal that ended it.
    public static func waitForExit(_ pid: Int32) throws -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw PostgresError(.invalidArgument, message: "waitpid failed for \(pid)") }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Starts a program in a session of its own and does not wait for it; returns its process id.
    public static func detach(_ executable: String, _ arguments: [String]) throws -> Int32 {
        try spawn(executable, arguments, outputPath: "/dev/null", errorPath: nil, newSession: true)
    }

    private static func spawn(
        _ executable: String, _ arguments: [String], outputPath: String, errorPath: String?, newSession: Bool,
        environment: [String: String] = [:]
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no signal blocked and every signal at its default action. Without this it
        // inherits the spawning thread's mask (Dispatch's worker threads block most signals, so a child would never
        // see SIGALRM or SIGTERM) and ignored signals such as SIGPIPE.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        // POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK, and POSIX_SPAWN_SETSID (glibc 2.26+, hidden behind
        // _GNU_SOURCE in the headers Swift imports) for a session of its own.
        posix_spawnattr_setflags(&attributes, Int16(0x04 | 0x08 | (newSession ? 0x80 : 0)))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result: Int32
        if environment.isEmpty {
            result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        } else {
            var merged = ProcessInfo.processInfo.environment
            merged.merge(environment) { _, new in new }
            let entries = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { entries.forEach { free($0) } }
            result = posix_spawn(&pid, executable, &actions, &attributes, argv, entries)
        }
        guard result == 0 else {
            throw PostgresError(
                .connectionFailed, message: "cannot run \(executable): \(String(cString: strerror(result)))"
            )
        }
        return pid
    }
}

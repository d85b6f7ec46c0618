import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import Synchronization
import Timestamps

/// `handoff apply [FILE] [--concurrency N]`: write commands in bulk, one JSON object per line.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run write commands from JSON lines (a file or stdin); print one acknowledgement line per command once it is committed.",
        discussion: """
            Each line is one command: {"command": "start", "workflow": "mail-send", "id": "acme", "inputs": {...}, \
            "as": "olivia", "commandId": "..."}; "claim" (task, as, roles), "complete" (task, as, outputs, \
            checklist), "release" (task, as), "signal" (onboarding, name, data, as), "cancel" (onboarding, as, \
            reason). Commands of one onboarding run in file order; different onboardings run concurrently. Give \
            every line a commandId and the whole file can be applied again after a crash: what was done already \
            returns its first answer and is not done twice. While the database is unavailable (a restart), a line             with a commandId is sent again for up to 60 seconds.
            """
    )

    @OptionGroup var output: OutputOptions

    @Argument(help: "The file of JSON lines (default: stdin).")
    var file: String?

    @Option(help: "How many onboardings to work on at once.")
    var concurrency = 4

    typealias Line = CommandRequest

    struct Acknowledgement: Encodable {
        var line: Int
        var commandId: String?
        var ok: Bool
        var result: Value?
        var error: [String: String]?
    }

    func run() async throws {
        try await Output.run(output) {
            guard concurrency >= 1, concurrency <= 64 else {
                throw CommandFailure(code: "invalid_input", message: "--concurrency must be between 1 and 64")
            }
            let data: Data
            if let file {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw CommandFailure(code: "not_found", message: "can't read \(file)")
                }
                data = contents
            } else {
                data = FileHandle.standardInput.readDataToEndOfFile()
            }
            var lines: [(number: Int, line: Line)] = []
            guard let text = String(validating: data, as: UTF8.self) else {
                throw CommandFailure(code: "invalid_input", message: "the commands are not valid UTF-8 text")
            }
            for (index, text) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                do {
                    _ = try Value(parsingInput: Array(trimmed.utf8))
                } catch {
                    throw CommandFailure(code: "invalid_input", message: "line \(index + 1) is not valid JSON: \(error)")
                }
                do {
                    lines.append((index + 1, try JSONDecoder().decode(Line.self, from: Data(trimmed.utf8))))
                } catch {
                    throw CommandFailure(code: "invalid_input", message: "line \(index + 1) is not a command: \(error)")
                }
            }
            var shards = [[(number: Int, line: Line)]](repeating: [], count: concurrency)
            for entry in lines {
                shards[Self.shard(Self.key(entry.line), count: concurrency)].append(entry)
            }
            let writer = LineWriter()
            let failures = try await CommandEngine.run(connections: concurrency) { engine in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for shard in shards where !shard.isEmpty {
                        group.addTask {
                            var failures = 0
                            for (number, line) in shard {
                                var acknowledgement = Acknowledgement(line: number, commandId: line.commandId, ok: true)
                                do {
                                    acknowledgement.result = try await Self.performRidingOutOutages(line, engine: engine)
                                } catch let error as EngineError where error.code == .databaseUnavailable {
                                    throw error
                                } catch {
                                    let (code, message) = Output.describe(error)
                                    acknowledgement.ok = false
                                    acknowledgement.error = ["code": code, "message": message]
                                    failures += 1
                                }
                                try writer.write(acknowledgement)
                            }
                            return failures
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            if failures > 0 {
                throw CommandFailure(code: "invalid_input", message: "\(failures) of \(lines.count) commands failed")
            }
        }
    }

    /// The onboarding a line works on, which keeps its lines in order.
    static func key(_ line: Line) -> String {
        (try? line.parsed().onboardingKey) ?? line.onboarding ?? line.id ?? ""
    }

    static func shard(_ key: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// How long a line with a command id is retried while the database is unavailable (a restart, a failover).
    static let outageAllowance: Duration = .seconds(60)

    /// Performs a line; while the database is unavailable, a line with a command id is sent again (the pool
    /// reconnects, and the command id makes a retry of a write that did commit return its first result), for up
    /// to `outageAllowance`. A line without one can't be retried safely, so the run stops at its line.
    static func performRidingOutOutages(_ line: Line, engine: Engine) async throws -> Value {
        let deadline = ContinuousClock.now + outageAllowance
        var pause: Duration = .milliseconds(100)
        while true {
            do {
                return try await perform(line, engine: engine)
            } catch let error as EngineError where error.code == .databaseUnavailable {
                guard line.commandId != nil, ContinuousClock.now + pause < deadline else { throw error }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    static func perform(_ line: Line, engine: Engine) async throws -> Value {
        let caller = Caller.operator(line.as ?? CommandEngine.defaultActor)
        return try encode(try await engine.execute(try line.parsed(), by: caller, commandId: line.commandId))
    }

    static func encode(_ value: some Encodable) throws -> Value {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .timestamp
        return try JSONDecoder().decode(Value.self, from: try encoder.encode(value))
    }
}

/// Writes whole lines to stdout, one writer at a time, each as soon as it is ready.
final class LineWriter: Sendable {
    private let lock = Mutex(())

    func write(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value) + Data("\n".utf8)
        lock.withLock { _ in FileHandle.standardOutput.write(data) }
    }
}

import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Postgres
import Timestamps

/// Opening the engine for one command: the database from the environment (migrated), the workflows folder.
enum CommandEngine {
    /// Runs `body` with an engine on a small pool, closing the pool afterwards.
    static func run<T>(connections: Int = 2, _ body: (Engine) async throws -> T) async throws -> T {
        let engine = try await Engine.open(.fromEnvironment(maximumConnections: connections))
        defer { engine.close() }
        do {
            let result = try await body(engine)
            await engine.flushNotifications()
            return result
        } catch {
            await engine.flushNotifications()
            throw error
        }
    }

    /// Who acts when `--as` is not given: the login name, else `cli`.
    static var defaultActor: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "cli"
    }
}

/// `KEY=VALUE` options (`--input`, `--output`) as values; the core converts text for boolean and integer fields.
enum KeyValues {
    static func parse(_ pairs: [String], option: String) throws -> [String: Value] {
        var values: [String: Value] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CommandFailure(code: "invalid_input", message: "\(option) takes KEY=VALUE, not '\(pair)'")
            }
            let key = String(pair[..<equals])
            guard values[key] == nil else {
                throw CommandFailure(code: "invalid_input", message: "\(option) \(key) is given twice")
            }
            values[key] = .string(String(pair[pair.index(after: equals)...]))
        }
        return values
    }

    /// A JSON document given on the command line.
    static func json(_ text: String, option: String) throws -> Value {
        do {
            return try Value(parsingInput: Array(text.utf8))
        } catch {
            throw CommandFailure(code: "invalid_input", message: "\(option) is not valid JSON: \(error)")
        }
    }
}

/// Options every write command takes.
struct WriteOptions: ParsableArguments {
    @Option(name: .customLong("command-id"), help: "An id that makes the command idempotent: sent again, it returns the first result and writes nothing.")
    var commandId: String?
}

/// Options of listings.
struct PageOptions: ParsableArguments {
    @Option(help: "Return at most this many (1 to 1000).")
    var limit = 100

    @Option(help: "Continue after this id (the `next` of the previous page).")
    var after: String?
}

/// Times in tables: `Timestamp`'s form, the one every interface writes, so a time copied from a table (into
/// `replay --at-time`, say) is the exact instant.
enum Clock {
    static func text(_ date: Date?) -> String {
        date.map(Timestamp.format) ?? "-"
    }
}

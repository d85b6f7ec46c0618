import ArgumentParser
import Foundation
import HandoffService
import Timestamps

/// A failure a command reports to its user: a stable contract code (`not_found`, `invalid_input`, …) and a message.
struct CommandFailure: Error {
    let code: String
    let message: String
}

/// Options every command takes.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on stdout (errors as JSON on stderr).")
    var json = false
}

extension OutputOptions {
    /// Prints `value` as JSON with `--json`; otherwise runs `text`, which prints it for people.
    func show(_ value: some Encodable, _ text: () throws -> Void) throws {
        if json {
            try Output.printJSON(value)
        } else {
            try text()
        }
    }
}

enum Output {
    /// Runs a command body and renders any failure as the contract says:
    /// `error: <code>: <message>` on stderr, or `{"error":{"code","message"}}` with `--json`; exit status 1.
    static func run(_ options: OutputOptions, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            let (code, rawMessage) = describe(error)
            // One line, as the contract promises: libpq's messages carry newlines and tabs.
            let message = rawMessage.split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
            report(code: code, message: message, json: options.json)
            throw ExitCode(1)
        }
    }

    /// Writes one failure on stderr: `error: <code>: <message>`, or `{"error":{"code","message"}}` as JSON.
    static func report(code: String, message: String, json: Bool) {
        if json {
            let document = ["error": ["code": code, "message": message]]
            let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data()
            FileHandle.standardError.write(data + Data("\n".utf8))
        } else {
            FileHandle.standardError.write(Data("error: \(code): \(message)\n".utf8))
        }
    }

    /// The contract code and message of any failure: the CLI's own argument checks, else the service's one
    /// classification of every layer's errors.
    static func describe(_ error: any Error) -> (code: String, message: String) {
        if let failure = error as? CommandFailure {
            return (failure.code, failure.message)
        }
        let classified = EngineError.from(error)
        return (classified.code.rawValue, classified.message)
    }

    /// Prints a value as one pretty JSON document on stdout.
    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .timestamp
        let data = try encoder.encode(value)
        print(String(decoding: data, as: UTF8.self))
    }

    /// Prints a value as one line of compact JSON (keys sorted): a line of NDJSON.
    static func printJSONLine(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .timestamp
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Prints rows as aligned columns under a header, for people.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        for row in all {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            print(cells.joined(separator: "  "))
        }
    }
}

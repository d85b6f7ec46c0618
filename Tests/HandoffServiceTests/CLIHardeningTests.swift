import Foundation
import HandoffCore
import HandoffTestSupport
import Postgres
import Testing

/// Every failure of the command line is a coded error, and no argument can smuggle in what a caller can't write.
@Suite("The command line refuses what it can't keep")
struct CLIHardeningTests {
    @Test func argumentsThatAreNotValidUTF8AreRefusedAndWriteNothing() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        // The id's bytes `a\377b` decode to "a\u{FFFD}b", as would `a\376b`: two ids that would name one onboarding.
        let assignments = handoff.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let script = #""$0" start mail-send --id "$(printf 'a\377b')" --input company=A --input path=standard"#
        let result = try await offload {
            try ChildProcess.runSeparately(
                "/usr/bin/env", assignments + ["/bin/sh", "-c", script, HandoffProcess.executable.path])
        }
        #expect(result.status == 1)
        #expect(result.stderr == "error: invalid_input: argument 4 is not valid UTF-8 text\n")
        #expect(try await database.column("SELECT count(*) FROM events") == ["0"])
    }

    @Test func argumentParserFailuresUnderJSONAreJSONErrorDocuments() async throws {
        let outcome = try await HandoffProcess.run(["status", "--limit", "lots", "--json"])
        #expect(outcome.status == 64)
        #expect(outcome.stdout.isEmpty)
        let document = try JSONSerialization.jsonObject(with: Data(outcome.stderr.utf8)) as? [String: [String: String]]
        #expect(document?["error"]?["code"] == "invalid_input", "\(outcome.stderr)")
        #expect(document?["error"]?["message"] == "The value 'lots' is invalid for '--limit <limit>'")

        let unknown = try await HandoffProcess.run(["tasks", "--colour", "red", "--json"])
        let unknownDocument = try JSONSerialization.jsonObject(with: Data(unknown.stderr.utf8)) as? [String: [String: String]]
        #expect(unknownDocument?["error"]?["code"] == "invalid_input", "\(unknown.stderr)")
    }

    @Test func versionPrintsTheVersion() async throws {
        let outcome = try await HandoffProcess.run(["--version"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("handoff 0."))
    }

    @Test func applyRefusesAnInexactNumberAndInvalidUTF8NamingTheLineAndWritesNothing() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apply-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let inexact = folder.appendingPathComponent("inexact.ndjson")
        try Data(
            (#"{"command":"start","workflow":"mail-send","inputs":{"company":"A","path":"standard"}}"# + "\n\n"
                + #"{"command":"signal","onboarding":"x","name":"go","data":{"n":12345678901234567890}}"# + "\n")
                .utf8
        ).write(to: inexact)
        let first = try await handoff.run(["apply", inexact.path])
        #expect(first.status == 1)
        #expect(
            first.stderr
                == "error: invalid_input: line 3 is not valid JSON: the integer 12345678901234567890 does not fit in 64 bits at byte 61\n",
            "line numbers count blank lines too")

        let invalid = folder.appendingPathComponent("invalid.ndjson")
        try Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D, 0x0A]).write(to: invalid)
        let second = try await handoff.run(["apply", invalid.path])
        #expect(second.stderr == "error: invalid_input: the commands are not valid UTF-8 text\n")
        #expect(try await database.column("SELECT count(*) FROM events") == ["0"])
    }

    @Test func signalDataTooDeepIsRefusedWithAShortMessageAndWritesNothing() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let started = try await handoff.run(["start", "mail-send", "--id", "s", "--input", "company=A", "--input", "path=standard"])
        #expect(started.status == 0, "\(started.stderr)")
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let refused = try await handoff.run(["signal", "s", "go", "--data", deep])
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: invalid_input: --data is not valid JSON: nested deeper than 64 levels at byte 64\n")
        // The start's four events (started, step entered, task opened, its due time scheduled), nothing more.
        #expect(try await database.column("SELECT count(*) FROM events") == ["4"])
    }

    @Test func applyRidesOutAPostgreSQLRestartWithoutLosingOrRepeatingACommand() async throws {
        let (cluster, connectionString) = try TestServer.privateCluster()
        defer { _ = try? cluster.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apply-restart-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let total = 60
        let lines = CLITests.script(onboardings: total)
        let script = folder.appendingPathComponent("run.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: script, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("out.jsonl")
        let errors = folder.appendingPathComponent("err.txt")
        let environment = [
            "DATABASE_URL=\(connectionString)", "HANDOFF_WORKFLOWS=\(Repository.workflows.path)",
            "HANDOFF_MIGRATIONS=\(Repository.migrations.path)",
        ]
        let pid = try ChildProcess.start(
            "/usr/bin/env", environment + [HandoffProcess.executable.path, "apply", script.path, "--concurrency", "4"],
            stdout: output.path, stderr: errors.path)
        let underway = try await eventually(within: 120) {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            return text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } >= 150
        }
        #expect(underway)
        try cluster.stop()
        try await Task.sleep(for: .seconds(1))
        _ = try cluster.start()
        let status = try await offload { try ChildProcess.waitForExit(pid) }
        #expect(status == 0, "\((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
        let answers = CLITests.acknowledgements(try String(contentsOf: output, encoding: .utf8))
        #expect(answers.count == lines.count)
        #expect(answers.values.allSatisfy { $0.ok })

        let connection = try Connection(ConnectionConfiguration(connectionString))
        let states = try await connection.query("SELECT state || ' ' || count(*) FROM onboardings GROUP BY state").rows
        #expect(states.map { $0.values[0] } == ["completed \(total)"])
        let duplicated = try await connection.query(
            """
            SELECT type || ' ' || (data ->> 'taskId') FROM events WHERE type IN ('TaskClaimed', 'TaskCompleted')
             GROUP BY type, data ->> 'taskId' HAVING count(*) > 1
            """
        ).rows
        #expect(duplicated.isEmpty)
    }

    /// Regression: the hints after a claim filled outputs with invented values (`client_id=C-1001`) and ticked
    /// every item, and the next-claim hint named demo users for anyone.
    @Test func hintsShowPlaceholdersKeepTheActingUserAndNameTheSignalAndTheFailure() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        _ = try await handoff.run(["start", "partner-go-live", "--id", "h", "--input", "company=X", "--input", "contact_email=a@b.co"])
        let claimed = try await handoff.run(["claim", "h-t1", "--as", "pia", "--role", "partner_integration_manager"])
        // envelope_url is optional: no placeholder for it; the checklist is the person's to tick.
        #expect(claimed.stdout.contains("handoff complete h-t1 --as pia --check ID…\n"), "\(claimed.stdout)")
        #expect(!claimed.stdout.contains("example.com"), "\(claimed.stdout)")
        let completed = try await handoff.run(
            ["complete", "h-t1", "--as", "pia", "--check", "sent", "--output", "envelope_url=https://sign.example.com/1"])
        #expect(completed.stdout.contains("handoff claim h-t2 --as pia --role solutions_engineer"), "\(completed.stdout)")
        #expect(completed.stdout.contains("handoff signal h contract-signed --as pia [--data JSON]"))

        _ = try await handoff.run(["start", "mail-send", "--id", "m", "--input", "company=A", "--input", "path=standard"])
        let mail = try await handoff.run(["claim", "m-t1", "--as", "alice", "--role", "customer_admin"])
        #expect(mail.stdout.contains(
            "handoff complete m-t1 --as alice --output 'client_id=<The Pia Client Id of the company'\\''s own Client>' --check ID…"),
            "\(mail.stdout)")
        #expect(!mail.stdout.contains("C-1001"))
        #expect(mail.stdout.contains("PATTERN"))

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hints-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
            id: doomed
            title: Doomed
            version: 1
            roles: [a]
            start: ask
            steps:
              - id: ask
                task:
                  role: a
                  title: Ask
                  outputs:
                    code: { type: string, required: true, pattern: "T-[0-9]+" }
              - id: stop
                end:
                  status: failed
                  reason: the customer gave ticket ${steps.ask.code}
            """.write(to: folder.appendingPathComponent("doomed.yaml"), atomically: true, encoding: .utf8)
        var environment = handoff.environment
        environment["HANDOFF_WORKFLOWS"] = folder.path
        _ = try await HandoffProcess.run(["start", "doomed", "--id", "d"], environment: environment)
        let asked = try await HandoffProcess.run(["claim", "d-t1", "--as", "sam", "--role", "a"], environment: environment)
        #expect(asked.stdout.contains("--output 'code=<code matching T-[0-9]+>'"), "\(asked.stdout)")
        let failed = try await HandoffProcess.run(
            ["complete", "d-t1", "--as", "sam", "--output", "code=T-7"], environment: environment)
        #expect(failed.stdout.contains("Onboarding d is failed: the customer gave ticket T-7."), "\(failed.stdout)")
    }
}

import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing
import Timestamps

/// The `handoff` executable, run as a child process on a test database.
struct EngineCommandLine {
    let database: TestDatabase

    var environment: [String: String] {
        [
            "DATABASE_URL": database.connectionString,
            "HANDOFF_WORKFLOWS": Repository.workflows.path,
            "HANDOFF_MIGRATIONS": Repository.migrations.path,
        ]
    }

    /// Starts `handoff` with stdout going to `output` and stderr to `errors`; returns its process id.
    func launch(_ arguments: [String], output: URL, errors: URL) throws -> Int32 {
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try ChildProcess.start(
            "/usr/bin/env", assignments + [HandoffProcess.executable.path] + arguments,
            stdout: output.path, stderr: errors.path
        )
    }

    /// Runs `handoff` to the end: its exit status, stdout and stderr.
    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let outcome = try await HandoffProcess.run(arguments, environment: environment)
        return (outcome.status, outcome.stdout, outcome.stderr)
    }
}

@Suite("The handoff command line")
struct CLITests {
    @Test func errorsAreOneLineWithTheContractCodeAndANonZeroExit() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let started = try await handoff.run(["start", "mail-send", "--input", "company=Contoso", "--input", "path=standard", "--id", "cli1", "--as", "olivia"])
        #expect(started.status == 0)
        #expect(started.stdout == "cli1\n")

        let unknown = try await handoff.run(["claim", "nope-t1", "--as", "alice", "--role", "customer_admin"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr == "error: not_found: no task 'nope-t1'\n")

        let wrongRole = try await handoff.run(["claim", "cli1-t1", "--as", "sam", "--role", "solutions_engineer", "--json"])
        #expect(wrongRole.status != 0)
        let document = try JSONDecoder().decode([String: [String: String]].self, from: Data(wrongRole.stderr.utf8))
        #expect(document["error"]?["code"] == "forbidden_role")

        let badOutput = try await handoff.run(["complete", "cli1-t1", "--as", "alice", "--output", "client_id"])
        #expect(badOutput.stderr.hasPrefix("error: invalid_input: --output takes KEY=VALUE"))

        let claimed = try await handoff.run(["claim", "--next", "--role", "customer_admin", "--as", "alice", "--json"])
        #expect(claimed.status == 0)
        let task = try JSONDecoder().decode(Value.self, from: Data(claimed.stdout.utf8))
        #expect(task.object?["id"] == "cli1-t1")
        #expect(task.object?["assignee"] == "alice")
        for field in ["onboardingId", "step", "role", "title", "instructions", "state", "checklist", "outputs", "dueAt", "createdAt"] {
            #expect(task.object?[field] != nil, "task JSON has \(field)")
        }

        let unticked = try await handoff.run(["complete", "cli1-t1", "--as", "alice", "--output", "client_id=C-1", "--check", "client-synced"])
        #expect(unticked.stderr.hasPrefix("error: checklist_incomplete: "))
        let done = try await handoff.run(["complete", "cli1-t1", "--as", "alice", "--output", "client_id=C-1", "--check", "client-synced", "--check", "client-listed", "--command-id", "k1"])
        #expect(done.status == 0)
        #expect(done.stdout.contains("handoff claim cli1-t2 --as alice --role customer_admin"))
        let again = try await handoff.run(["complete", "cli1-t1", "--as", "alice", "--output", "client_id=C-1", "--check", "client-synced", "--check", "client-listed", "--command-id", "k1"])
        #expect(again.status == 0)
        let twice = try await handoff.run(["complete", "cli1-t1", "--as", "alice", "--output", "client_id=C-1", "--check", "client-synced", "--check", "client-listed"])
        #expect(twice.stderr.hasPrefix("error: task_not_open: "))

        let history = try await handoff.run(["history", "cli1"])
        #expect(history.status == 0)
        let completion = history.stdout.split(separator: "\n").first { $0.contains("TaskCompleted") }
        #expect(completion?.split(separator: " ", omittingEmptySubsequences: true).contains("alice") == true)
        let status = try await handoff.run(["status", "cli1", "--json"])
        let onboarding = try JSONDecoder().decode(Value.self, from: Data(status.stdout.utf8))
        for field in ["id", "workflow", "workflowVersion", "state", "currentSteps", "openTasks", "variables", "inputs", "startedAt", "updatedAt", "version"] {
            #expect(onboarding.object?[field] != nil, "onboarding JSON has \(field)")
        }
        let projections = try await handoff.run(["projections", "status", "--json"])
        #expect(projections.stdout.contains("\"lagEvents\" : 0"))
        #expect(try await handoff.run(["verify"]).status == 0)
    }

    /// The lines of a Mail.Send run on the standard path, each with a command id.
    static func script(onboardings: Int) -> [String] {
        let steps: [(role: String, user: String, outputs: [String: String], checklist: [String])] = [
            ("customer_admin", "alice", ["client_id": "C-1"], ["client-synced", "client-listed"]),
            ("customer_admin", "alice", [:], ["open-client", "open-delegate", "new-consent", "scopes", "signed-in"]),
            ("customer_admin", "alice", ["upn": "mailer@contoso.com"], ["upn-shown"]),
            ("partner_integration_manager", "pat", [:], ["configured"]),
            ("solutions_engineer", "sam", [:], ["mode", "upn", "client-id"]),
        ]
        func json(_ object: [String: Any]) -> String {
            String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }
        var lines: [String] = []
        for index in 0..<onboardings {
            lines.append(json([
                "command": "start", "commandId": "start-\(index)", "workflow": "mail-send", "id": "k\(index)",
                "inputs": ["company": "Company \(index)", "path": "standard"], "as": "olivia",
            ]))
        }
        for (number, step) in steps.enumerated() {
            for index in 0..<onboardings {
                let task = "k\(index)-t\(number + 1)"
                lines.append(json([
                    "command": "claim", "commandId": "claim-\(task)", "task": task, "as": step.user, "roles": [step.role],
                ]))
                lines.append(json([
                    "command": "complete", "commandId": "complete-\(task)", "task": task, "as": step.user,
                    "outputs": step.outputs, "checklist": step.checklist,
                ]))
            }
        }
        return lines
    }

    struct Acknowledgement: Decodable {
        var line: Int
        var ok: Bool
        var result: Value?
    }

    static func acknowledgements(_ text: String) -> [Int: Acknowledgement] {
        var acknowledged: [Int: Acknowledgement] = [:]
        // A line cut off by the kill has no newline yet: it was never acknowledged.
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if let ack = try? JSONDecoder().decode(Acknowledgement.self, from: Data(line.utf8)) {
                acknowledged[ack.line] = ack
            }
        }
        return acknowledged
    }

    @Test func aRunKilledWithSIGKILLLosesAndDuplicatesNothingAndFinishesAfterARestart() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let total = 1_000
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("run.jsonl")
        try (Self.script(onboardings: total).joined(separator: "\n") + "\n").write(to: script, atomically: true, encoding: .utf8)

        // The first run, killed in the middle.
        let firstOutput = folder.appendingPathComponent("first.jsonl")
        let firstErrors = folder.appendingPathComponent("first.err")
        let first = try handoff.launch(["apply", script.path, "--concurrency", "8"], output: firstOutput, errors: firstErrors)
        let killed = try await eventually(within: 120) {
            let text = (try? String(contentsOf: firstOutput, encoding: .utf8)) ?? ""
            return text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } >= 4_000
        }
        #expect(killed)
        kill(first, SIGKILL)
        let firstStatus = try await offload { try ChildProcess.waitForExit(first) }
        #expect(firstStatus == 128 + SIGKILL)
        let acknowledged = Self.acknowledgements(try String(contentsOf: firstOutput, encoding: .utf8))
        #expect(acknowledged.count >= 4_000)
        #expect(acknowledged.count < Self.script(onboardings: total).count)
        #expect(acknowledged.values.allSatisfy { $0.ok })

        // Nothing acknowledged is lost: each acknowledged completion is in the log.
        let completedBefore = Set(try await database.column("SELECT data ->> 'taskId' FROM events WHERE type = 'TaskCompleted'").compactMap { $0 })
        let lines = Self.script(onboardings: total)
        for (number, ack) in acknowledged where lines[number - 1].contains("\"command\":\"complete\"") {
            let id = ack.result?.object?["id"]?.stringValue ?? "?"
            #expect(completedBefore.contains(id))
        }

        // The restart applies the whole file again and finishes the run.
        let secondOutput = folder.appendingPathComponent("second.jsonl")
        let secondErrors = folder.appendingPathComponent("second.err")
        let second = try handoff.launch(["apply", script.path, "--concurrency", "8"], output: secondOutput, errors: secondErrors)
        let secondStatus = try await offload { try ChildProcess.waitForExit(second) }
        let stderr = (try? String(contentsOf: secondErrors, encoding: .utf8)) ?? ""
        #expect(secondStatus == 0, "\(stderr)")
        let answers = Self.acknowledgements(try String(contentsOf: secondOutput, encoding: .utf8))
        #expect(answers.count == lines.count)
        #expect(answers.values.allSatisfy { $0.ok })
        // The same answer as the first time for every command acknowledged before the kill.
        for (number, ack) in acknowledged {
            let answer = answers[number]?.result
            #expect(answer == ack.result, "line \(number)")
        }

        #expect(try await database.column("SELECT state, count(*) FROM onboardings GROUP BY state") == ["completed"])
        #expect(try await database.column("SELECT count(*) FROM onboardings") == ["\(total)"])
        let duplicated = try await database.column(
            """
            SELECT type || ' ' || (data ->> 'taskId') FROM events WHERE type IN ('TaskClaimed', 'TaskCompleted')
             GROUP BY type, data ->> 'taskId' HAVING count(*) > 1
            """)
        #expect(duplicated.isEmpty)
        #expect(try await database.column("SELECT count(*) FROM events WHERE type = 'TaskCompleted'") == ["\(total * 5)"])
        #expect(try await database.column("SELECT count(*) FROM events WHERE type = 'OnboardingStarted'") == ["\(total)"])
        let report = try await database.engine().verify()
        #expect(report.problems.isEmpty)
        #expect(report.streams == total)
    }
}

@Suite("handoff apply's errors")
struct ApplyErrorTests {
    @Test func applyErrorsAreCodedErrorsNotAnArgumentParserCrash() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apply-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let missing = try await handoff.run(["apply", folder.appendingPathComponent("none.ndjson").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: not_found: can't read"), "\(missing.stderr)")
        let broken = folder.appendingPathComponent("broken.ndjson")
        try Data("{\"command\": \"start\"\n".utf8).write(to: broken)
        let notJSON = try await handoff.run(["apply", broken.path, "--json"])
        #expect(notJSON.status == 1)
        let error = try JSONSerialization.jsonObject(with: Data(notJSON.stderr.utf8)) as? [String: [String: String]]
        #expect(error?["error"]?["code"] == "invalid_input", "\(notJSON.stderr)")
        let bad = try await handoff.run(["apply", broken.path, "--concurrency", "0"])
        #expect(bad.stderr.hasPrefix("error: invalid_input: --concurrency"), "\(bad.stderr)")
        #expect(try await database.column("SELECT count(*) FROM events") == ["0"])
    }
}

extension Value {
    var object: [String: Value]? {
        if case .object(let members) = self { return members }
        return nil
    }
}

@Suite("One form of time")
struct TimeFormTests {
    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// Regression: event times, stored answers and `--json` used three forms (milliseconds, PostgreSQL's text, whole
    /// seconds), and a time `history` printed could miss its own event in `replay --at-time`.
    @Test func everyInterfaceWritesTheSameMillisecondTimeAndReplayFindsIt() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let started = try await handoff.run(["start", "mail-send", "--input", "company=Contoso", "--input", "path=standard", "--id", "tf1", "--as", "olivia"])
        #expect(started.status == 0, "\(started.stderr)")
        let form = #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/#

        let history = try Self.object(try await handoff.run(["history", "tf1", "--json"]).stdout)
        let events = try #require(history["events"] as? [[String: Any]])
        let recorded = try #require(events.first?["recordedAt"] as? String)
        #expect(recorded.wholeMatch(of: form) != nil, "\(recorded)")
        let table = try await handoff.run(["history", "tf1"])
        #expect(table.stdout.contains(recorded), "\(table.stdout)")

        let onboarding = try Self.object(try await handoff.run(["status", "tf1", "--json"]).stdout)
        let startedAt = try #require(onboarding["startedAt"] as? String)
        #expect(startedAt.wholeMatch(of: form) != nil, "\(startedAt)")
        let tasks = try Self.object(try await handoff.run(["tasks", "--onboarding", "tf1", "--json"]).stdout)
        let createdAt = try #require((tasks["tasks"] as? [[String: Any]])?.first?["createdAt"] as? String)
        #expect(createdAt.wholeMatch(of: form) != nil, "\(createdAt)")

        // The time history printed finds the event recorded then; the millisecond before it finds nothing.
        let replayed = try await handoff.run(["replay", "tf1", "--at-time", recorded, "--json"])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        // Every event of the start shares its transaction's time, so that time is the latest version.
        #expect(try Self.object(replayed.stdout)["version"] as? Int == onboarding["version"] as? Int)
        let before = Timestamp.format(try #require(Timestamp.parse(recorded)).addingTimeInterval(-0.001))
        let tooEarly = try await handoff.run(["replay", "tf1", "--at-time", before])
        #expect(tooEarly.status != 0)
        #expect(tooEarly.stderr.contains("started at \(recorded)"), "\(tooEarly.stderr)")
    }
}

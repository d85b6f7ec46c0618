import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing
import Timestamps

/// Everything a database holds that an import could change, as one comparable text.
func contents(of database: TestDatabase) async throws -> String {
    try await database.column(
        """
        SELECT concat_ws(' | ',
            (SELECT count(*) || ' events ' || coalesce(md5(string_agg(event_id::text, ',' ORDER BY position)), '')
               FROM events),
            (SELECT count(*) || ' definitions' FROM workflow_definitions),
            (SELECT count(*) || ' onboardings ' || coalesce(md5(string_agg(o::text, ',' ORDER BY id)), '')
               FROM onboardings o),
            (SELECT count(*) || ' tasks ' || coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '') FROM tasks t),
            (SELECT count(*) || ' notifications' FROM notifications))
        """
    ).first.flatMap { $0 } ?? ""
}

/// Starts a mail_send_only onboarding and completes its tasks until the Global Administrator's consent is done.
func startPastTheGlobalAdminConsent(_ engine: Engine, id: String) async throws {
    _ = try await engine.start(
        workflow: "mail-send", inputs: ["company": "Fabrikam", "path": "mail_send_only"], id: id, actor: "olivia")
    for _ in 0..<3 {
        guard let summary = try await engine.onboarding(id).openTasks.first else { return }
        let user = Person.user(for: summary.role)
        let claimed = try await engine.claim(taskId: summary.id, user: user, roles: [summary.role])
        let (outputs, checklist) = answers(for: claimed)
        _ = try await engine.complete(taskId: summary.id, user: user, outputs: outputs, checklist: checklist)
    }
}

@Suite("Troubleshooting: history filters")
struct HistoryFilterTests {
    @Test func typeActorAndTimeNarrowTheHistory() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "h1", actor: "olivia")
        try await drive(engine, "h1")
        let all = try await engine.history("h1")
        #expect(all.count > 20)

        let completions = try await engine.history("h1", matching: HistoryFilter(types: ["TaskCompleted"]))
        #expect(completions.map(\.type) == Array(repeating: "TaskCompleted", count: 5))
        #expect(completions == all.filter { $0.type == "TaskCompleted" })

        let pat = try await engine.history("h1", matching: HistoryFilter(actors: ["pat"]))
        #expect(!pat.isEmpty)
        #expect(pat == all.filter { $0.actor == "pat" })
        let both = try await engine.history(
            "h1", matching: HistoryFilter(types: ["TaskClaimed", "TaskCompleted"], actors: ["alice", "sam"]))
        #expect(both.map(\.type).sorted() == ["TaskClaimed", "TaskClaimed", "TaskClaimed", "TaskClaimed",
                                             "TaskCompleted", "TaskCompleted", "TaskCompleted", "TaskCompleted"])

        // A time range keeps exactly the events recorded inside it, both ends included.
        let since = all[all.count / 3].recordedAt
        let until = all[2 * all.count / 3].recordedAt
        let inside = try await engine.history("h1", matching: HistoryFilter(since: since, until: until))
        #expect(inside == all.filter { $0.recordedAt >= since && $0.recordedAt <= until })
        #expect(inside.contains(all[all.count / 3]) && inside.contains(all[2 * all.count / 3]))
        let later = try await engine.history("h1", matching: HistoryFilter(since: until.addingTimeInterval(3600)))
        #expect(later.isEmpty)
    }

    @Test func badFiltersAreRefusedWithTheReason() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "h2", actor: "olivia")
        await #expect(throws: EngineError.self) { try await engine.history("h2", matching: HistoryFilter(types: ["TaskDone"])) }
        do {
            _ = try await engine.history("h2", matching: HistoryFilter(types: ["TaskDone", "TaskCompleted"]))
            Issue.record("an unknown type was accepted")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.hasPrefix("no event type 'TaskDone'; the types are OnboardingStarted, "))
        }
        let now = Date()
        do {
            _ = try await engine.history(
                "h2", matching: HistoryFilter(since: now, until: now.addingTimeInterval(-1)))
            Issue.record("a range ending before it begins was accepted")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("ends"))
        }
        do {
            _ = try await engine.history("nope", matching: HistoryFilter(types: ["TaskCompleted"]))
            Issue.record("an unknown onboarding had a history")
        } catch {
            #expect(error.code == .notFound)
        }
    }

    @Test func theCommandLinePrintsNDJSONAndRefusesBadFlags() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        let engine = database.engine()
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "h3", actor: "olivia")
        try await drive(engine, "h3")

        let lines = try await handoff.run(["history", "h3", "--type", "TaskCompleted", "--actor", "alice", "--format", "ndjson"])
        #expect(lines.status == 0, "\(lines.stderr)")
        let events = try lines.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        #expect(events.count == 3)
        #expect(events.allSatisfy { $0["type"] as? String == "TaskCompleted" && $0["actor"] as? String == "alice" })
        #expect(events.allSatisfy { $0["streamId"] as? String == "h3" && $0["data"] is [String: Any] })

        let json = try await handoff.run(["history", "h3", "--json", "--type", "OnboardingCompleted"])
        #expect(json.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["events"] as? [[String: Any]])?.map { $0["type"] as? String } == ["OnboardingCompleted"])

        let cases: [([String], String)] = [
            (["--format", "xml"], "error: invalid_input: --format is table, json or ndjson, not 'xml'\n"),
            (["--json", "--format", "ndjson"], "error: invalid_input: --json prints JSON; it does not go with --format ndjson\n"),
            (["--since", "yesterday"], "error: invalid_input: --since is not an ISO 8601 time: yesterday\n"),
            (["--until", "2026-02-31"], "error: invalid_input: --until is not an ISO 8601 time: 2026-02-31\n"),
        ]
        for (flags, message) in cases {
            let refused = try await handoff.run(["history", "h3"] + flags)
            #expect(refused.status != 0, "\(flags)")
            #expect(refused.stdout.isEmpty)
            if flags.contains("--json") {
                #expect(refused.stderr.contains("\"code\":\"invalid_input\""), "\(flags): \(refused.stderr)")
            } else {
                #expect(refused.stderr == message, "\(flags)")
            }
        }
        let unknown = try await handoff.run(["history", "h3", "--type", "Nope"])
        #expect(unknown.stderr.hasPrefix("error: invalid_input: no event type 'Nope'; the types are "))
    }
}

@Suite("Troubleshooting: export and import")
struct ExportImportTests {
    @Test func anImportedOnboardingReplaysToTheSameStateAtEveryVersion() async throws {
        let source = try await Fixture.make()
        let target = try await Fixture.make()
        try await startPastTheGlobalAdminConsent(source.engine, id: "fab")
        let exported = try await source.engine.export("fab")
        let original = try await source.engine.history("fab")
        #expect(exported.events.count == original.count)
        #expect(exported.definitions.map(\.workflowId) == ["mail-send"])

        let parsed = try OnboardingExport(parsing: Data(exported.ndjson.utf8))
        #expect(parsed == exported)
        let imported = try await target.engine.importOnboarding(parsed)
        #expect(imported == (try await source.engine.onboarding("fab")))

        let copied = try await target.engine.history("fab")
        #expect(copied.count == original.count)
        for (a, b) in zip(original, copied) {
            #expect(a.version == b.version && a.type == b.type && a.recordedAt == b.recordedAt)
            #expect(a.actor == b.actor && a.commandId == b.commandId && a.data == b.data)
        }
        #expect(try await target.database.column("SELECT event_id::text FROM events ORDER BY version")
            == (try await source.database.column("SELECT event_id::text FROM events ORDER BY version")))
        for version in 1...Int64(original.count) {
            let there = try await source.engine.replay("fab", at: .version(version))
            let here = try await target.engine.replay("fab", at: .version(version))
            #expect(there == here, "the states differ at version \(version)")
        }
        #expect(
            try await target.engine.tasks(TaskQuery(onboardingId: "fab"), limit: 100, after: nil).items
                == (try await source.engine.tasks(TaskQuery(onboardingId: "fab"), limit: 100, after: nil).items))
        try await target.expectInvariants()
        // The copy is live: its next task can be worked on here.
        let next = try #require(try await target.engine.onboarding("fab").openTasks.first)
        _ = try await target.engine.claim(taskId: next.id, user: Person.user(for: next.role), roles: [next.role])
        try await target.expectInvariants()
    }

    @Test func aBadOrRepeatedImportIsRefusedAndChangesNothing() async throws {
        let source = try await Fixture.make()
        let target = try await Fixture.make()
        try await startPastTheGlobalAdminConsent(source.engine, id: "fab")
        let text = try await source.engine.export("fab").ndjson
        _ = try await target.engine.importOnboarding(try OnboardingExport(parsing: Data(text.utf8)))
        // Another onboarding's definition row is there too, so a refused import must leave both untouched.
        _ = try await target.engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "other", actor: "olivia")
        let before = try await contents(of: target.database)

        let lines = text.split(separator: "\n").map(String.init)
        func edited(_ change: (inout [String]) -> Void) -> String {
            var copy = lines
            change(&copy)
            return copy.joined(separator: "\n") + "\n"
        }
        let eventLine = lines.firstIndex { $0.contains("\"type\":\"TaskClaimed\"") }!
        let cases: [(String, String, EngineError.Code)] = [
            (text, "this database has an onboarding 'fab' already", .alreadyExists),
            // The same events renamed to another onboarding: their ids are stored already.
            (edited { copy in
                copy[0] = copy[0].replacingOccurrences(of: "\"fab\"", with: "\"fab2\"")
                for index in 2..<copy.count {
                    copy[index] = copy[index].replacingOccurrences(of: "\"fab", with: "\"fab2")
                }
             }, "an event id of the export is stored already", .alreadyExists),
            ("", "the export is empty", .invalidInput),
            ("{\"handoff\":\"export\"\n", "line 1: not JSON", .invalidInput),
            ("[1]\n", "line 1: not a JSON object", .invalidInput),
            ("{\"hello\":1}\n", "line 1: not the header of a Handoff export", .invalidInput),
            (text.replacingOccurrences(of: "\"formatVersion\":1", with: "\"formatVersion\":9"),
             "line 1: formatVersion is 9; this Handoff reads 1", .invalidInput),
            (edited { $0.remove(at: eventLine) }, "event version", .invalidInput),
            (edited { $0.removeLast() }, "the header promises", .invalidInput),
            (edited { $0[eventLine] = $0[eventLine].replacingOccurrences(of: "\"type\":\"TaskClaimed\"", with: "\"type\":\"TaskGrabbed\"") },
             "line \(eventLine + 1): no event type 'TaskGrabbed'", .invalidInput),
            (edited { $0[eventLine] = $0[eventLine].replacingOccurrences(of: "\"taskId\"", with: "\"task\"") },
             "line \(eventLine + 1): the TaskClaimed event does not decode", .invalidInput),
            (edited { $0[1] = $0[1].replacingOccurrences(of: "Pia Portal", with: "Pia  Portal") },
             "line 2: the definition's source hashes to", .invalidInput),
            (edited { $0.remove(at: 1) }, "the export does not carry the definition", .invalidInput),
            (edited { $0.append("{\"note\":\"hi\"}") }, "neither {\"definition\"", .invalidInput),
            (edited { $0[eventLine] = $0[eventLine].replacingOccurrences(
                of: #","sourceTransaction":"[0-9]+""#, with: "", options: .regularExpression) },
             "line \(eventLine + 1): metadata has no sourceTransaction", .invalidInput),
            (edited { copy in
                let first = copy[2].firstMatch(of: #/"sourceTransaction":"[0-9]+"/#).map { String($0.output) } ?? "?"
                copy[copy.count - 1] = copy[copy.count - 1].replacing(#/"sourceTransaction":"[0-9]+"/#, with: first)
             }, "line \(lines.count): its sourceTransaction", .invalidInput),
        ]
        // Without the definition line, the target has no copy of it only in a database that never stored it.
        let empty = try await Fixture.make()
        for (index, (file, message, code)) in cases.enumerated() {
            let engine = index == 12 ? empty.engine : target.engine
            do {
                _ = try await engine.importOnboarding(try OnboardingExport(parsing: Data(file.utf8)))
                Issue.record("case \(index) was imported")
            } catch {
                #expect(error.code == code, "case \(index): \(error)")
                #expect(error.message.contains(message), "case \(index): \(error.message)")
            }
        }
        #expect(try await contents(of: target.database) == before)
        #expect(try await contents(of: empty.database) == "0 events  | 0 definitions | 0 onboardings  | 0 tasks  | 0 notifications")
    }

    @Test func theCommandLineExportsToAFileAndImportsItIntoAnotherDatabase() async throws {
        let source = try await TestDatabase.make()
        let target = try await TestDatabase.make()
        try await startPastTheGlobalAdminConsent(source.engine(), id: "fab")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("fab.ndjson")

        let exported = try await EngineCommandLine(database: source).run(["export", "fab"])
        #expect(exported.status == 0, "\(exported.stderr)")
        try exported.stdout.write(to: file, atomically: true, encoding: .utf8)
        let lines = exported.stdout.split(separator: "\n")
        #expect(lines.first?.contains("\"handoff\":\"export\"") == true)
        #expect(lines.count == 2 + (try await source.engine().history("fab").count))

        let handoff = EngineCommandLine(database: target)
        let imported = try await handoff.run(["import", file.path])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.hasPrefix("Imported onboarding fab (mail-send v1, "))
        let replayed = try await handoff.run(["replay", "fab", "--at", "3", "--json"])
        #expect(replayed.status == 0)
        let there = try await EngineCommandLine(database: source).run(["replay", "fab", "--at", "3", "--json"])
        #expect(replayed.stdout == there.stdout)
        #expect(try await handoff.run(["verify"]).status == 0)

        let again = try await handoff.run(["import", file.path])
        #expect(again.status != 0)
        #expect(again.stderr == "error: already_exists: this database has an onboarding 'fab' already; import into one without it\n")
        let missing = try await handoff.run(["import", folder.appendingPathComponent("nope.ndjson").path])
        #expect(missing.stderr.hasPrefix("error: not_found: no file "))
        let unknown = try await EngineCommandLine(database: source).run(["export", "nope"])
        #expect(unknown.status != 0)
        #expect(unknown.stdout.isEmpty)
        #expect(unknown.stderr == "error: not_found: no onboarding 'nope'\n")
    }
}

@Suite("Troubleshooting: candidate definitions")
struct CandidateDefinitionTests {
    /// A copy of the repository's workflows, with `change` applied to mail-send.yaml.
    static func candidates(_ change: (String) -> String = { $0 }) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("candidates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Repository.workflows.path)
        where name.hasSuffix(".yaml") {
            var text = try String(contentsOf: Repository.workflows.appendingPathComponent(name), encoding: .utf8)
            if name == "mail-send.yaml" { text = change(text) }
            try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return folder
    }

    /// The Global Administrator's consent asks for fewer scopes: only runs that reached it decided otherwise.
    static func narrowerGlobalAdminConsent(_ text: String) -> String {
        text.replacingOccurrences(
            of: "scopes: Group.ReadWrite.All, Mail.Send and Directory.AccessAsUser.All\n        organisation_wide: true",
            with: "scopes: Mail.Send alone\n        organisation_wide: true")
    }

    @Test func unchangedDefinitionsAreCleanAndAChangeNamesTheRunAndItsFirstDifferingEvent() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "std", actor: "olivia")
        try await drive(engine, "std")
        try await startPastTheGlobalAdminConsent(engine, id: "mso")
        let before = try await contents(of: fixture.database)

        let same = try Self.candidates()
        defer { try? FileManager.default.removeItem(at: same) }
        let clean = try await engine.verify(candidates: try WorkflowLibrary(folder: same).load().0)
        #expect(clean.ok)
        #expect(clean.streams == 2 && clean.checked == 2 && clean.decisions > 10)
        #expect(clean.withoutCandidate.isEmpty)

        let changed = try Self.candidates(Self.narrowerGlobalAdminConsent)
        defer { try? FileManager.default.removeItem(at: changed) }
        #expect(try String(contentsOf: changed.appendingPathComponent("mail-send.yaml"), encoding: .utf8).contains("Mail.Send alone"))
        let report = try await engine.verify(candidates: try WorkflowLibrary(folder: changed).load().0)
        #expect(report.checked == 2)
        let change = try #require(report.changes.first)
        #expect(report.changes.count == 1)
        #expect(change.onboarding == "mso" && change.workflow == "mail-send")
        #expect(change.pinnedVersion == 1 && change.candidateVersion == 1)
        // The first event of the run that carries the scopes the candidate changed.
        let history = try await engine.history("mso")
        let first = try #require(history.first { $0.data.jsonText.contains("Group.ReadWrite.All") })
        #expect(change.version == first.version)
        #expect(change.recorded?.hasPrefix(first.type + " {") == true)
        #expect(change.recorded?.contains("Group.ReadWrite.All") == true)
        #expect(change.decided?.hasPrefix(first.type + " {") == true)
        #expect(change.decided?.contains("Mail.Send alone") == true)

        // A candidate folder without the workflow leaves its runs alone.
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("candidates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: other) }
        try FileManager.default.copyItem(
            at: Repository.workflows.appendingPathComponent("partner-go-live.yaml"),
            to: other.appendingPathComponent("partner-go-live.yaml"))
        let elsewhere = try await engine.verify(candidates: try WorkflowLibrary(folder: other).load().0)
        #expect(elsewhere.ok && elsewhere.checked == 0 && elsewhere.withoutCandidate == ["mail-send": 2])
        #expect(try await contents(of: fixture.database) == before)
    }

    @Test func theCommandLineExitsNonZeroOnAChangeAndRefusesBadFolders() async throws {
        let database = try await TestDatabase.make()
        let engine = database.engine()
        try await startPastTheGlobalAdminConsent(engine, id: "mso")
        let handoff = EngineCommandLine(database: database)

        let same = try Self.candidates()
        defer { try? FileManager.default.removeItem(at: same) }
        let clean = try await handoff.run(["verify", "--definitions", same.path])
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.hasPrefix("ok: 1 of 1 runs checked against \(same.path), "))

        let changed = try Self.candidates(Self.narrowerGlobalAdminConsent)
        defer { try? FileManager.default.removeItem(at: changed) }
        let failed = try await handoff.run(["verify", "--definitions", changed.path])
        #expect(failed.status != 0)
        #expect(failed.stdout.hasPrefix("changed: mso (mail-send v1, candidate v1) at version "))
        #expect(failed.stdout.contains("\n  history:   ") && failed.stdout.contains("\n  candidate: "))
        #expect(failed.stderr.hasPrefix("error: verification_failed: 1 runs would decide differently under "))
        let json = try await handoff.run(["verify", "--definitions", changed.path, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["changes"] as? [[String: Any]])?.first?["onboarding"] as? String == "mso")

        let broken = try Self.candidates { _ in "id: mail-send\nsteps: [" }
        defer { try? FileManager.default.removeItem(at: broken) }
        let refused = try await handoff.run(["verify", "--definitions", broken.path])
        #expect(refused.stderr.hasPrefix("error: invalid_workflow: candidate files that do not load"))
        #expect(refused.stdout.isEmpty)
        let nowhere = try await handoff.run(["verify", "--definitions", broken.appendingPathComponent("nope").path])
        #expect(nowhere.stderr.hasPrefix("error: not_found: no folder "))
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("candidates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let none = try await handoff.run(["verify", "--definitions", empty.path])
        #expect(none.stderr == "error: invalid_input: no workflow files (*.yaml) in \(empty.path)\n")
    }
}

@Suite("Troubleshooting: onboardings by input or variable value")
struct ValueSearchTests {
    /// `seats`, an integer input, and `vip`, a boolean one, beside a task that records nothing.
    static let seatsSource = """
        id: seats
        title: Seats
        version: 1
        roles: [solutions_engineer]
        inputs:
          company:
            type: string
            required: true
          seats:
            type: integer
            required: true
          vip:
            type: boolean
            default: false
        start: count
        steps:
          - id: count
            title: Count the seats
            task:
              role: solutions_engineer
              title: Count the seats
          - id: done
            end: completed
        """

    @Test func inputsAndVariablesFindTheirOnboardings() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        for (id, company) in [("s1", "Fabrikam"), ("s2", "Contoso"), ("s3", "Fabrikam")] {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": .string(company), "path": "standard"], id: id, actor: "olivia")
        }
        try await drive(engine, "s3", upn: { _ in "mailer@fabrikam.com" })
        func ids(_ values: [(name: String, value: String)], state: String? = nil) async throws -> [String] {
            try await engine.onboardings(OnboardingQuery(state: state, values: values)).items.map(\.id)
        }
        #expect(try await ids([("company", "Fabrikam")]) == ["s1", "s3"])
        #expect(try await ids([("company", "Fabrikam"), ("Mail_Send_UPN", "mailer@fabrikam.com")]) == ["s3"])
        #expect(try await ids([("Mail_Send_Mode", "Client")]) == ["s3"])
        #expect(try await ids([("company", "Fabrikam")], state: "active") == ["s1"])
        #expect(try await ids([("company", "Northwind")]).isEmpty)
        #expect(try await ids([("company", "fabrikam")]).isEmpty, "values match exactly")
        #expect(try await ids([("path", "Fabrikam")]).isEmpty, "the name and the value go together")

        // Numbers and booleans match the text that spells them.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.seatsSource.write(to: folder.appendingPathComponent("seats.yaml"), atomically: true, encoding: .utf8)
        let seats = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: folder))
        _ = try await seats.start(workflow: "seats", inputs: ["company": "Tailspin", "seats": "12", "vip": "true"], id: "n1", actor: "olivia")
        _ = try await seats.start(workflow: "seats", inputs: ["company": "Tailspin", "seats": "120"], id: "n2", actor: "olivia")
        #expect(try await ids([("seats", "12")]) == ["n1"])
        #expect(try await ids([("vip", "true")]) == ["n1"])
        #expect(try await ids([("vip", "false"), ("company", "Tailspin")]) == ["n2"])
        #expect(try await ids([("seats", "012")]).isEmpty)
    }

    @Test func badFiltersAreRefusedOnTheCommandLine() async throws {
        let database = try await TestDatabase.make()
        let handoff = EngineCommandLine(database: database)
        _ = try await database.engine().start(
            workflow: "mail-send", inputs: ["company": "Fabrikam", "path": "standard"], id: "w1", actor: "olivia")
        let found = try await handoff.run(["status", "--where", "company=Fabrikam", "--where", "path=standard", "--json"])
        #expect(found.status == 0, "\(found.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(found.stdout.utf8)) as? [String: Any]
        #expect((document?["onboardings"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["w1"])
        let equalsInValue = try await handoff.run(["status", "--where", "company=Fab=rikam"])
        #expect(equalsInValue.status == 0, "\(equalsInValue.stderr)")
        #expect(!equalsInValue.stdout.contains("w1"), "the value is everything after the first =")

        let noEquals = try await handoff.run(["status", "--where", "company"])
        #expect(noEquals.stderr == "error: invalid_input: --where takes NAME=VALUE, not 'company'\n")
        let noName = try await handoff.run(["status", "--where", "=Fabrikam"])
        #expect(noName.stderr == "error: invalid_input: --where takes NAME=VALUE, not '=Fabrikam'\n")
        let many = try await handoff.run(["status"] + (0..<9).flatMap { ["--where", "k\($0)=v"] })
        #expect(many.stderr == "error: invalid_input: at most 8 input or variable filters, not 9\n")
    }

    /// The listing with value filters is served by the GIN indexes of `inputs` and `variables`, not a scan.
    @Test func theIndexesServeTheSearch() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "x", actor: "olivia")
        try await fixture.database.pool.withConnection { connection in
            try Baselines.cloneOnboarding(on: connection, source: "x", tag: "c", first: 1, count: 3_000)
            try connection.execute("ANALYZE onboardings")
            let statement = Projections.onboardingsStatement(
                matching: OnboardingQuery(values: [("company", "Fabrikam"), ("Mail_Send_ID", "C-42")]), limit: 100,
                after: nil)
            let plan = try connection.query("EXPLAIN " + statement.sql, statement.parameters).rows
                .compactMap { $0.values[0] }.joined(separator: "\n")
            #expect(plan.contains("onboardings_by_input"), "\(plan)")
            #expect(plan.contains("onboardings_by_variable"), "\(plan)")
            #expect(!plan.contains("Seq Scan"), "\(plan)")
        }
    }
}

import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

/// `relay`: two tasks for the solutions engineer, in versions that change what comes after the first.
enum RelayWorkflow {
    static func source(version: Int, firstStep: String = "first", firstRole: String = "solutions_engineer") -> String {
        var text = """
            id: relay
            title: Relay
            version: \(version)
            roles: [solutions_engineer, customer_admin]
            start: \(firstStep)
            steps:
              - id: \(firstStep)
                title: First
                task:
                  role: \(firstRole)
                  title: The first task

            """
        if version == 1 {
            text += """
                  - id: second
                    title: Second
                    task:
                      role: solutions_engineer
                      title: The second task
                  - id: done
                    end: completed

                """
        } else {
            text += """
                  - id: second
                    title: Second
                    task:
                      role: solutions_engineer
                      title: The second task, with a checklist now
                      checklist:
                        - id: checked
                          text: Checked twice
                  - id: third
                    title: Third
                    task:
                      role: customer_admin
                      title: A third task, new in this version
                  - id: done
                    end: completed

                """
        }
        return text
    }

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try write(source(version: 1), to: folder)
        return folder
    }

    static func write(_ source: String, to folder: URL) throws {
        try source.write(to: folder.appendingPathComponent("relay.yaml"), atomically: true, encoding: .utf8)
    }
}

/// Claims and completes the open tasks of a run, ticking every checklist item, until none is open; returns the
/// titles of the tasks done, in order.
@discardableResult
func finish(_ engine: Engine, _ id: String) async throws -> [String] {
    var titles: [String] = []
    while let summary = try await engine.onboarding(id).openTasks.first {
        let user = Person.user(for: summary.role)
        let task = try await engine.claim(taskId: summary.id, user: user, roles: [summary.role])
        titles.append(task.title)
        _ = try await engine.complete(taskId: task.id, user: user, outputs: [:], checklist: Set(task.checklist.map(\.id)))
    }
    return titles
}

@Suite("Upgrading a run in flight")
struct UpgradeTests {
    @Test func aRunMovesToTheNewerVersionAndGoesOnAsItSays() async throws {
        let fixture = try await Fixture.make()
        let folder = try RelayWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let engine = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: folder))
        for id in ["r1", "r2"] {
            _ = try await engine.start(workflow: "relay", inputs: [:], id: id, actor: "olivia")
        }
        try RelayWorkflow.write(RelayWorkflow.source(version: 2), to: folder)

        let before = try await engine.history("r1").count
        let upgraded = try await engine.upgrade(onboardingId: "r1", toVersion: 2, user: "olivia", commandId: "u1")
        #expect(upgraded.workflowVersion == 2 && upgraded.state == "active")
        #expect(upgraded.currentSteps == ["first"])
        let history = try await engine.history("r1")
        #expect(history.count == before + 1)
        #expect(history.last?.type == "OnboardingUpgraded" && history.last?.actor == "olivia")
        guard case .object(let data)? = history.last?.data else {
            Issue.record("the upgrade's data is not an object")
            return
        }
        #expect(data["fromVersion"] == .integer(1) && data["workflowVersion"] == .integer(2))
        // The same command id again answers the same and writes nothing.
        #expect(try await engine.upgrade(onboardingId: "r1", toVersion: 2, user: "olivia", commandId: "u1") == upgraded)
        #expect(try await engine.history("r1").count == before + 1)

        // r1 goes on as version 2 says; r2 stays on version 1.
        #expect(try await finish(engine, "r1") == [
            "The first task", "The second task, with a checklist now", "A third task, new in this version",
        ])
        #expect(try await finish(engine, "r2") == ["The first task", "The second task"])
        #expect(try await engine.onboarding("r1").state == "completed")
        #expect(try await engine.onboarding("r2").workflowVersion == 1)

        // Replays before the upgrade use version 1; verify and a rebuild agree with the inline projections.
        let atUpgrade = Int64(before)
        #expect(try await engine.replay("r1", at: .version(atUpgrade)).onboarding.workflowVersion == 1)
        #expect(try await engine.replay("r1", at: .version(atUpgrade + 1)).onboarding.workflowVersion == 2)
        try await fixture.expectInvariants()
        let rows = try await engine.tasks(TaskQuery(states: ["completed"], onboardingId: "r1"), limit: 10, after: nil)
        _ = try await engine.rebuildProjections()
        #expect(try await engine.tasks(TaskQuery(states: ["completed"], onboardingId: "r1"), limit: 10, after: nil) == rows)
        try await fixture.expectInvariants()

        // Exported, it carries both definitions, and another database replays it the same at every version.
        let exported = try await engine.export("r1")
        #expect(exported.definitions.map(\.version) == [1, 2])
        let target = try await Fixture.make()
        _ = try await target.engine.importOnboarding(try OnboardingExport(parsing: Data(exported.ndjson.utf8)))
        for version in 1...Int64(history.count) {
            #expect(
                try await target.engine.replay("r1", at: .version(version))
                    == (try await engine.replay("r1", at: .version(version))), "at version \(version)")
        }
        try await target.expectInvariants()
    }

    @Test func anUpgradeThatDoesNotMapIsRefusedWithTheReasonAndChangesNothing() async throws {
        let fixture = try await Fixture.make()
        let folder = try RelayWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let engine = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: folder))
        for id in ["r1", "r2", "done"] {
            _ = try await engine.start(workflow: "relay", inputs: [:], id: id, actor: "olivia")
        }
        try await finish(engine, "done")
        let before = try await contents(of: fixture.database)

        func refusal(_ id: String, _ version: Int, _ source: String? = nil) async throws -> EngineError? {
            if let source { try RelayWorkflow.write(source, to: folder) }
            do {
                _ = try await engine.upgrade(onboardingId: id, toVersion: version, user: "olivia")
                return nil
            } catch {
                return error
            }
        }
        let renamed = try await refusal("r1", 2, RelayWorkflow.source(version: 2, firstStep: "opening"))
        #expect(renamed?.code == .invalidInput)
        #expect(renamed?.message == "the run is in step first, which relay v2 does not have")
        let otherRole = try await refusal("r1", 2, RelayWorkflow.source(version: 2, firstRole: "customer_admin"))
        #expect(otherRole?.code == .invalidInput)
        #expect(otherRole?.message == "task r1-t1 is for role solutions_engineer; in v2 its step is for customer_admin")
        let missing = try await refusal("r1", 7)
        #expect(missing?.code == .notFound)
        #expect(missing?.message == "no definition of relay v7 (the workflows folder has v2, and none is stored)")
        let same = try await refusal("r1", 1)
        #expect(same?.code == .invalidInput)
        #expect(same?.message == "the run is at relay v1; v1 is not newer")
        let ended = try await refusal("done", 2, RelayWorkflow.source(version: 2))
        #expect(ended?.code == .onboardingNotActive)
        let unknown = try await refusal("nope", 2)
        #expect(unknown?.code == .notFound)
        #expect(try await contents(of: fixture.database) == before, "a refused upgrade wrote something")
        #expect(try await engine.onboarding("r1").workflowVersion == 1)
        try await fixture.expectInvariants()
    }

    @Test func theCommandLineUpgradesAndReportsARefusal() async throws {
        let database = try await TestDatabase.make()
        let folder = try RelayWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = [
            "DATABASE_URL": database.connectionString, "HANDOFF_WORKFLOWS": folder.path,
            "HANDOFF_MIGRATIONS": Repository.migrations.path,
        ]
        func handoff(_ arguments: [String]) async throws -> HandoffProcess.Outcome {
            try await HandoffProcess.run(arguments, environment: environment)
        }
        #expect(try await handoff(["start", "relay", "--id", "c1", "--as", "olivia"]).status == 0)
        try RelayWorkflow.write(RelayWorkflow.source(version: 2), to: folder)
        let upgraded = try await handoff(["upgrade", "c1", "--to", "2", "--as", "olivia"])
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        #expect(upgraded.stdout.hasPrefix("Upgraded c1 to relay v2.\n"))
        let again = try await handoff(["upgrade", "c1", "--to", "2", "--as", "olivia"])
        #expect(again.status != 0)
        #expect(again.stderr == "error: invalid_input: the run is at relay v2; v2 is not newer\n")
        let history = try await handoff(["history", "c1", "--type", "OnboardingUpgraded", "--format", "ndjson"])
        #expect(history.stdout.split(separator: "\n").count == 1)
        #expect(try await handoff(["verify"]).status == 0)
    }
}

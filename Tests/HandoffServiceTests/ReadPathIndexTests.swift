import Foundation
import HandoffCore
import HandoffService
import HandoffTestSupport
import Postgres
import Testing

@testable import HandoffStore

@Suite("Every read path is served by an index")
struct ReadPathIndexTests {
    /// The tables that grow with use: none of them may be read by a sequential scan.
    static let growing = [
        "events", "onboardings", "tasks", "task_timing_rows", "recorded_variable_rows", "activity_rows",
    ]

    @Test func theStatementsOfListingsHistoryTheLogAndTheProjectionsUseIndexes() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        // Three kinds of onboarding (a task open, one claimed, one completed), a thousand of each.
        for (id, path) in [("open", "standard"), ("held", "standard"), ("done", "standard")] {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": .string(path)], id: id, actor: "olivia")
        }
        _ = try await engine.claim(taskId: "held-t1", user: "alice", roles: ["customer_admin"])
        try await drive(engine, "done")
        try await fixture.database.pool.withConnection { connection in
            for source in ["open", "held", "done"] {
                try Baselines.cloneOnboarding(on: connection, source: source, tag: "c", first: 1, count: 1_000)
            }
        }
        // About 50,000 events for four projections, in a debug build beside the other suites: more than a minute
        // when the machine is busy.
        try await followToTheEnd(engine, leaseSeconds: 60, limit: 5_000, within: 240)
        let position = try await fixture.database.pool.withConnection { connection in
            try Baselines.analyze(on: connection)
            return try EventStore.end(on: connection)
        }
        let now = Date()
        let statements: [(String, Statement)] = [
            ("onboardings, newest", Projections.onboardingsStatement(matching: OnboardingQuery(), limit: 100, after: nil)),
            ("onboardings by workflow, state and step",
             Projections.onboardingsStatement(
                matching: OnboardingQuery(workflowId: "mail-send", state: "active", step: "client-synced"), limit: 100,
                after: "open-c10")),
            ("onboardings by value",
             Projections.onboardingsStatement(matching: OnboardingQuery(values: [("company", "Fabrikam")]), limit: 100, after: nil)),
            ("one onboarding", (Projections.onboardingSelect + " WHERE id = $1", ["held-c7"])),
            ("tasks of a role",
             Projections.tasksStatement(
                matching: TaskQuery(roles: ["partner_integration_manager"], states: ["open", "claimed"]), limit: 100, after: nil)),
            ("tasks escalated to a role",
             try #require(Projections.escalatedTasksStatement(
                matching: TaskQuery(roles: ["partner_integration_manager"], states: ["open", "claimed"]), limit: 100,
                after: nil))),
            ("tasks of an onboarding",
             Projections.tasksStatement(matching: TaskQuery(onboardingId: "held-c9"), limit: 100, after: nil)),
            ("tasks claimed by a user",
             Projections.tasksStatement(matching: TaskQuery(states: ["claimed"], assignee: "nobody"), limit: 100, after: nil)),
            ("overdue tasks",
             Projections.tasksStatement(
                matching: TaskQuery(states: ["open", "claimed"], dueBefore: now.addingTimeInterval(-86_400)), limit: 100,
                after: nil)),
            ("a stream (history, replay, every command's load)", (EventStore.readSQL, ["done-c500", Int64(1), 1_000])),
            ("the global log from its start", (EventStore.readAllSQL, [UInt64(0), Int64(0), 500])),
            ("the global log from a checkpoint", (EventStore.readAllSQL, [position.transactionId, position.position, 500])),
            ("the log as the async projections read it",
             (EventStore.readForProjectionsSQL, [position.transactionId, position.position, 500])),
            ("the latest events", (EventStore.latestSQL, [20])),
            ("recorded variables of a company", (AsyncProjections.variablesSQL, ["Contoso", nil, 100])),
            ("the activity feed", (AsyncProjections.activitySQL, [50])),
            ("async projections' lag", (AsyncProjections.statusSQL, [])),
        ]
        try await fixture.database.pool.withConnection { connection in
            for (name, statement) in statements {
                let plan = try connection.query("EXPLAIN " + statement.sql, statement.parameters).rows
                    .compactMap { $0.values[0] }.joined(separator: "\n")
                for table in Self.growing {
                    #expect(!plan.contains("Seq Scan on \(table) "), "\(name) scans \(table):\n\(plan)")
                }
                #expect(plan.contains("Index"), "\(name) uses no index:\n\(plan)")
                if name == "tasks of a role" {
                    // Read in the listing's order: no sort of every task of the role.
                    #expect(plan.contains("tasks_listed") && !plan.contains("Sort"), "\(plan)")
                }
            }
        }
        #expect(try await fixture.database.column("SELECT count(*) > 9000 FROM events") == ["t"])
    }
}

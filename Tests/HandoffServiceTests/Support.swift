import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Synchronization
import Testing

/// A fresh database with an engine on it, using the repository's workflows.
struct Fixture {
    let database: TestDatabase
    let engine: Engine

    static func make(maximumConnections: Int = 16) async throws -> Fixture {
        let database = try await TestDatabase.make(maximumConnections: maximumConnections)
        return Fixture(database: database, engine: database.engine())
    }

    /// The stream's version (0 when it does not exist).
    func version(_ onboardingId: String) async throws -> Int64 {
        try await database.store.version(of: onboardingId)
    }

    /// The number of events of a type in one stream.
    func count(_ type: String, in onboardingId: String) async throws -> Int {
        try await database.column(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND type = $2", [onboardingId, type]
        ).first.flatMap { $0.flatMap(Int.init) } ?? -1
    }

    /// Fails the test with every problem `verify` finds: projections that differ from the log, an active
    /// onboarding waiting on nothing, an open task without its step, a decision that comes out differently.
    func expectInvariants(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let report = try await engine.verify()
        #expect(report.problems == [], sourceLocation: sourceLocation)
        #expect(report.streams > 0, sourceLocation: sourceLocation)
    }
}

extension TestDatabase {
    /// An engine on this database with the repository's workflows.
    func engine(clock: @escaping @Sendable () -> Date = { Date() }) -> Engine {
        Engine(pool: pool, workflows: WorkflowLibrary(folder: Repository.workflows), clock: clock)
    }
}

/// The roles of the Mail.Send workflow and who plays them in tests.
enum Person {
    static let admin = (user: "alice", role: "customer_admin")
    static let manager = (user: "pat", role: "partner_integration_manager")
    static let engineer = (user: "sam", role: "solutions_engineer")

    static func user(for role: String) -> String {
        switch role {
        case admin.role: admin.user
        case manager.role: manager.user
        default: engineer.user
        }
    }
}

/// What a person enters to complete each Mail.Send task: every checklist item ticked, outputs by step.
func answers(for task: TaskView, upn: String = "mailer@contoso.com", clientId: String = "C-42") -> (
    outputs: [String: Value], checklist: Set<String>
) {
    var outputs: [String: Value] = [:]
    switch task.step {
    case "client-synced": outputs["client_id"] = .string(clientId)
    case "read-upn": outputs["upn"] = .string(upn)
    default: break
    }
    return (outputs, Set(task.checklist.map(\.id)))
}

/// Claims and completes the open tasks of one onboarding as the roles would, until none is open.
@discardableResult
func drive(_ engine: Engine, _ onboardingId: String, upn: (TaskView) -> String = { _ in "mailer@contoso.com" })
    async throws -> [TaskView]
{
    var done: [TaskView] = []
    while let summary = try await engine.onboarding(onboardingId).openTasks.first {
        let user = Person.user(for: summary.role)
        let claimed = try await engine.claim(taskId: summary.id, user: user, roles: [summary.role])
        let (outputs, checklist) = answers(for: claimed, upn: upn(claimed))
        done.append(
            try await engine.complete(taskId: summary.id, user: user, outputs: outputs, checklist: checklist))
    }
    return done
}

/// A value shared by concurrent test tasks.
final class Box<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) {
        storage = Mutex(value)
    }

    var value: Value { storage.withLock { $0 } }

    func update(_ change: (inout Value) -> Void) {
        storage.withLock { change(&$0) }
    }
}

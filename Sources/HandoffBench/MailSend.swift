import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Postgres

/// The Mail.Send seed workflow as the scenarios drive it: real onboardings through the engine, copied in bulk.
enum MailSend {
    static let workflow = "mail-send"
    static let admin = "customer_admin"
    static let roles: Set<String> = ["customer_admin", "partner_integration_manager", "solutions_engineer"]

    /// Starts one onboarding on the standard path; its first task (`client-synced`, for `customer_admin`) is open.
    static func start(_ engine: Engine, tag: String) async throws -> OnboardingView {
        try await engine.start(
            workflow: workflow, inputs: ["company": .string("Contoso \(tag)"), "path": .string("standard")],
            actor: "bench-starter"
        )
    }

    /// What a person enters to complete a task: every checklist item ticked, every output given (its default
    /// when earlier answers determine it).
    static func answers(_ task: TaskView) -> (outputs: [String: Value], checklist: Set<String>) {
        var outputs: [String: Value] = [:]
        for output in task.outputs {
            if let value = output.default, value != .null {
                outputs[output.name] = value
            } else {
                outputs[output.name] = .string(output.type == "upn" ? "mailer@contoso.com" : "C-42")
            }
        }
        return (outputs, Set(task.checklist.map(\.id)))
    }

    /// Two onboardings to copy into a long log: one driven to its end, one left halfway (three tasks done).
    static func finishedAndHalfway(_ engine: Engine, tag: String) async throws -> (finished: String, halfway: String) {
        let finished = try await start(engine, tag: "\(tag)-finished")
        try await drive(engine, finished.id)
        let halfway = try await start(engine, tag: "\(tag)-halfway")
        try await drive(engine, halfway.id, tasks: 3)
        return (finished.id, halfway.id)
    }

    /// Claims and completes `count` tasks of one onboarding in order (all of them when nil), as its roles would.
    @discardableResult
    static func drive(_ engine: Engine, _ onboardingId: String, tasks count: Int? = nil) async throws -> Int {
        var done = 0
        while count.map({ done < $0 }) ?? true, let summary = try await engine.onboarding(onboardingId).openTasks.first {
            let user = "bench-\(summary.role)"
            let claimed = try await engine.claim(taskId: summary.id, user: user, roles: [summary.role])
            let (outputs, checklist) = answers(claimed)
            _ = try await engine.complete(taskId: summary.id, user: user, outputs: outputs, checklist: checklist)
            done += 1
        }
        return done
    }

    /// Makes `count` copies of an onboarding (events and projection rows), in statements of at most `chunk`
    /// onboardings, numbering them from `first`.
    static func clone(
        _ pool: ConnectionPool, source: String, tag: String, first: Int = 1, count: Int, chunk: Int = 5_000
    ) async throws {
        var next = first
        while next < first + count {
            let size = min(chunk, first + count - next)
            let from = next
            try await pool.withConnection { connection in
                try Baselines.cloneOnboarding(on: connection, source: source, tag: tag, first: from, count: size)
            }
            next += size
        }
        try await pool.withConnection { connection in try Baselines.analyze(on: connection) }
    }
}

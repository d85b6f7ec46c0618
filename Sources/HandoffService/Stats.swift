import Foundation
import HandoffStore

/// Dashboard figures, as `GET /stats` shows them.
public struct StatsView: Codable, Sendable, Equatable {
    public struct Onboardings: Codable, Sendable, Equatable {
        public var workflow: String
        public var state: String
        @Nullable public var step: String?
        public var count: Int
    }

    public struct Tasks: Codable, Sendable, Equatable {
        public var role: String
        public var open: Int
        public var claimed: Int
        public var overdue: Int
    }

    /// Per workflow, state and current step (an onboarding counts once per current step).
    public var onboardings: [Onboardings]
    /// Per role: open, claimed and overdue (open or claimed past their due time).
    public var tasks: [Tasks]
}

extension Engine {
    /// Onboardings by workflow, state and step; open, claimed and overdue tasks by role, as of the engine's clock.
    public func stats() async throws(EngineError) -> StatsView {
        let now = clock()
        let record = try await read { connection in try Projections.stats(on: connection, now: now) }
        return StatsView(
            onboardings: record.onboardings.map {
                StatsView.Onboardings(workflow: $0.workflow, state: $0.state, step: $0.step, count: $0.count)
            },
            tasks: record.tasks.map {
                StatsView.Tasks(role: $0.role, open: $0.open, claimed: $0.claimed, overdue: $0.overdue)
            })
    }
}

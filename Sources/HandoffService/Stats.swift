import Foundation
import HandoffCore
import HandoffStore
import Timestamps

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

    /// Per workflow, role and step: open and completed tasks (the async `counts` projection), and the seconds the
    /// step's latest 1,000 tasks waited before their first claim and took to complete (median and 90th percentile;
    /// null before any task got that far; the async `timings` projection).
    public struct Steps: Codable, Sendable, Equatable {
        public var workflow: String
        public var role: String
        public var step: String
        public var open: Int
        public var completed: Int
        @Nullable public var waitMedianSeconds: Double?
        @Nullable public var waitP90Seconds: Double?
        @Nullable public var completeMedianSeconds: Double?
        @Nullable public var completeP90Seconds: Double?
    }

    /// Per workflow, state and current step (an onboarding counts once per current step).
    public var onboardings: [Onboardings]
    /// Per role: open, claimed and overdue (open or claimed past their due time).
    public var tasks: [Tasks]
    public var steps: [Steps]
}

extension Engine {
    /// Onboardings by workflow, state and step; open, claimed and overdue tasks by role, as of the engine's clock.
    public func stats() async throws(EngineError) -> StatsView {
        let now = clock()
        let record = try await viewRead { connection in try Projections.stats(on: connection, now: now) }
        return StatsView(
            onboardings: record.onboardings.map {
                StatsView.Onboardings(workflow: $0.workflow, state: $0.state, step: $0.step, count: $0.count)
            },
            tasks: record.tasks.map {
                StatsView.Tasks(role: $0.role, open: $0.open, claimed: $0.claimed, overdue: $0.overdue)
            },
            steps: record.steps.map {
                StatsView.Steps(
                    workflow: $0.workflow, role: $0.role, step: $0.step, open: $0.open, completed: $0.completed,
                    waitMedianSeconds: $0.waitMedian, waitP90Seconds: $0.waitP90,
                    completeMedianSeconds: $0.completeMedian, completeP90Seconds: $0.completeP90)
            })
    }
}

/// A variable an onboarding recorded, from the async `variables` projection (`recorded_variables`).
public struct RecordedVariableView: Codable, Sendable, Equatable {
    /// The onboarding's `company` input, when its workflow has one.
    @Nullable public var company: String?
    public var onboarding: String
    public var workflow: String
    public var name: String
    public var value: Value
    /// The `set` step that recorded it.
    public var path: String
    /// The caller of the command that led to it.
    @Nullable public var setBy: String?
    public var setAt: Date
}

/// A line of the activity feed, from the async `activity` projection.
public struct ActivityView: Codable, Sendable, Equatable {
    public var position: Int64
    public var onboarding: String
    public var workflow: String
    public var version: Int64
    public var type: String
    public var summary: String
    @Nullable public var actor: String?
    public var recordedAt: Date
}

extension Engine {
    /// What onboardings recorded, by company: `company` and `name` narrow it (`GET /variables`).
    public func recordedVariables(company: String? = nil, name: String? = nil, limit: Int = 100)
        async throws(EngineError) -> [RecordedVariableView]
    {
        let limit = try Self.check(limit: limit)
        let rows = try await viewRead { connection in
            try AsyncProjections.variables(on: connection, company: company, name: name, limit: limit)
        }
        return try rows.map { (row) throws(EngineError) -> RecordedVariableView in
            let value = try Self.storedJSON(row.value, "recorded variable \(row.name) of \(row.onboardingId)")
            return RecordedVariableView(
                company: row.company, onboarding: row.onboardingId, workflow: row.workflowId, name: row.name,
                value: value, path: row.path, setBy: row.setBy, setAt: Timestamp.normalized(row.setAt))
        }
    }

    /// The activity feed, newest first (`GET /activity`).
    public func activity(limit: Int = 50) async throws(EngineError) -> [ActivityView] {
        let limit = try Self.check(limit: limit)
        return try await viewRead { connection in try AsyncProjections.activity(on: connection, limit: limit) }.map {
            ActivityView(
                position: $0.position, onboarding: $0.onboardingId, workflow: $0.workflowId, version: $0.version,
                type: $0.type, summary: $0.summary, actor: $0.actor, recordedAt: Timestamp.normalized($0.recordedAt))
        }
    }
}

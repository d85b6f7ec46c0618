import Foundation
import HandoffCore
import HandoffStore

/// An event of the global log with its place in it, for followers of the log (the live pages).
public struct FeedEvent: Sendable, Equatable {
    public var position: LogPosition
    public var event: EventView
}

extension Engine {
    /// The newest events across every onboarding, newest first: the dashboard's recent activity.
    public func recentEvents(limit: Int = 20) async throws(EngineError) -> [EventView] {
        let limit = try Self.check(limit: limit)
        let events = try await viewRead { connection in try EventStore.latest(on: connection, limit: limit) }
        return try Self.views(of: events)
    }

    /// Where a follower that wants only new events starts.
    public func feedEnd() async throws(EngineError) -> LogPosition {
        try await read { connection in try EventStore.end(on: connection) }
    }

    /// The events committed after `position`, oldest first, at most `limit`: checkpoint the last one's
    /// `position` and call again to see every committed event exactly once (the gap-safe read of the log).
    public func feed(after position: LogPosition, limit: Int = 500) async throws(EngineError) -> [FeedEvent] {
        let limit = try Self.check(limit: limit)
        let events = try await read { connection in try EventStore.readAll(on: connection, after: position, limit: limit) }
        let views = try Self.views(of: events)
        return zip(events, views).map {
            FeedEvent(position: LogPosition(transactionId: $0.transactionId, position: $0.position), event: $1)
        }
    }
}

extension Engine {
    /// The definition an onboarding started with (pinned by its content hash), to draw its flow.
    public func pinnedDefinition(_ contentHash: String) async throws(EngineError) -> WorkflowDefinition {
        let definitions = definitions
        return try await read { connection in
            try Folding(connection: connection, definitions: definitions).interpreter(contentHash).definition
        }
    }
}

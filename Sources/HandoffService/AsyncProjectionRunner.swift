import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Synchronization

/// One async projection's batch, as the runner or a rebuild applied it.
public struct ProjectionBatch: Sendable, Equatable {
    public var name: String
    public var generation: Int
    /// Events applied by this batch.
    public var applied: Int
    /// Events applied to this generation so far.
    public var events: Int64
    /// Where this generation's checkpoint is now.
    public var position: LogPosition
}

/// What `projections rebuild` of an async projection did.
public struct AsyncRebuildReport: Codable, Sendable, Equatable {
    public var projection: String
    public var generation: Int
    public var events: Int64
    public var seconds: Double
}

/// How far a rebuild is: `events` applied of about `total`.
public struct RebuildProgress: Sendable, Equatable {
    public var projection: String
    public var events: Int64
    public var total: Int64
    public var seconds: Double
}

extension Engine {
    /// The async projections' names (`timings`, `variables`, `activity`, `counts`).
    public static var asyncProjectionNames: [String] { AsyncProjections.names }

    /// Applies the next batch of at most `limit` events to each async projection this process holds the lease of
    /// or can take (none held by another live process), and returns those batches. A projection whose batch came
    /// back full has more waiting.
    public func followProjections(owner: String, limit: Int = 500, leaseSeconds: Double) async throws(EngineError)
        -> [ProjectionBatch]
    {
        var batches: [ProjectionBatch] = []
        // Projections at one checkpoint (the usual case) apply one read of the log: what a gap-safe read returned
        // is a prefix of what any later one returns, so the next projection may apply it as its own batch.
        let shared = SharedRead()
        for name in AsyncProjections.names {
            if let batch = try await oneBatch(
                name, live: true, owner: owner, limit: limit, leaseSeconds: leaseSeconds, source: .read(shared))
            {
                batches.append(batch)
            }
        }
        return batches
    }

    /// Deletes up to `limit` rows per table of the generations a rebuild replaced (readers no longer see them), in
    /// a transaction of its own, and returns how many went: the runner calls it when it has nothing to follow, and
    /// `projections rebuild` until none are left.
    public func deleteStaleProjectionRows(limit: Int = 10_000) async throws(EngineError) -> Int {
        try await read { connection in
            try AsyncProjections.names.reduce(0) { deleted, name in
                deleted + (try AsyncProjections.deleteStaleRows(on: connection, name: name, limit: limit))
            }
        }
    }

    /// Deletes every row of the generations rebuilds replaced, a slice at a time.
    public func clearStaleProjectionRows() async throws(EngineError) {
        while try await deleteStaleProjectionRows(limit: 50_000) > 0 {}
    }

    /// Gives up this process's projection leases, so another process takes over at once.
    public func releaseProjections(owner: String) async throws(EngineError) {
        _ = try await read { connection in try AsyncProjections.release(on: connection, owner: owner) }
    }

    /// Rebuilds an async projection from position zero into its next generation while the live one keeps being
    /// read and followed, then swaps it in, in one transaction: readers see the old rows or the new ones, never a
    /// part. The old generation's rows are left for `clearStaleProjectionRows`. A rebuild that was stopped resumes
    /// from where its last batch committed; one running in another process (its lease not run out) is refused with
    /// `already_exists`.
    public func rebuildAsyncProjection(
        _ name: String, owner: String, leaseSeconds: Double, limit: Int = 5_000,
        progress: @Sendable (RebuildProgress) -> Void = { _ in }
    ) async throws(EngineError) -> AsyncRebuildReport {
        guard AsyncProjections.names.contains(name) else {
            throw EngineError(
                .invalidInput,
                "no projection '\(name)'; the projections are \((Projections.names + AsyncProjections.names).joined(separator: ", "))")
        }
        let started = ContinuousClock.now
        func seconds() -> Double { (ContinuousClock.now - started).totalSeconds }
        let total = try await read { connection in
            try AsyncProjections.beginRebuild(on: connection, name: name)
            return try EventStore.committedCount(on: connection)
        }
        let taken = EngineError(
            .alreadyExists, "a rebuild of projection '\(name)' is running in another process; try again when it ends")
        guard var batch = try await oneBatch(name, live: false, owner: owner, limit: limit, leaseSeconds: leaseSeconds)
        else { throw taken }
        progress(RebuildProgress(projection: name, events: batch.events, total: max(total, batch.events), seconds: seconds()))
        // A pipeline of three stages, each on its own thread: the log is read on another connection, the batch
        // read before is decoded and encoded into statements, and the one before that is written here. Reads
        // follow one another (each starts where the one before ended); at most three batches are held, so memory
        // stays flat.
        if batch.applied == limit {
            // Reading starts where the batch above ended: after an empty read that ends there.
            let start = Task<LogRead, any Error> { [position = batch.position] in LogRead(after: position, events: []) }
            let first = readAhead(after: start, limit: limit)
            var preparing: Task<PreparedBatch, any Error>? = prepare(name, generation: batch.generation, first)
            var reading = readAhead(after: first, limit: limit)
            defer {
                preparing?.cancel()
                reading.cancel()
            }
            while let current = preparing {
                let prepared = try await Self.value(of: current)
                if prepared.events == limit {
                    preparing = prepare(name, generation: batch.generation, reading)
                    reading = readAhead(after: reading, limit: limit)
                } else {
                    preparing = nil
                }
                guard let written = try await oneBatch(
                    name, live: false, owner: owner, limit: limit, leaseSeconds: leaseSeconds, source: .prepared(prepared))
                else { throw taken }
                batch = written
                progress(
                    RebuildProgress(projection: name, events: batch.events, total: max(total, batch.events), seconds: seconds()))
            }
        }
        // The swap: the live generation's checkpoint is locked (the runner skips it meanwhile), the new generation
        // takes the last events, and becomes live.
        let swapped: ProjectionBatch
        do {
            swapped = try await pool.withTransaction { connection in
                guard var batch = try Self.applyBatch(
                    on: connection, name: name, live: false, owner: owner, limit: limit, leaseSeconds: leaseSeconds)
                else {
                    throw EngineError(.alreadyExists, "a rebuild of projection '\(name)' is running in another process")
                }
                try AsyncProjections.lockLive(on: connection, name: name)
                while let next = try Self.applyBatch(
                    on: connection, name: name, live: false, owner: owner, limit: limit, leaseSeconds: leaseSeconds),
                    next.applied > 0
                {
                    batch = next
                }
                try AsyncProjections.swap(on: connection, name: name, to: batch.generation)
                return batch
            }
        } catch {
            throw EngineError.from(error)
        }
        progress(RebuildProgress(projection: name, events: swapped.events, total: swapped.events, seconds: seconds()))
        return AsyncRebuildReport(
            projection: name, generation: swapped.generation, events: swapped.events, seconds: seconds())
    }

    /// The `limit` events that follow the read `previous` (once it is done), read on a connection of their own.
    private func readAhead(after previous: Task<LogRead, any Error>, limit: Int) -> Task<LogRead, any Error> {
        let pool = pool
        return Task {
            let after = try await previous.value.last
            return try await pool.withConnection { connection in
                LogRead(after: after, events: try EventStore.readForProjections(on: connection, after: after, limit: limit))
            }
        }
    }

    /// The events of `read` (once it is done) as the statements that write `name`'s rows into `generation`.
    private func prepare(_ name: String, generation: Int, _ read: Task<LogRead, any Error>)
        -> Task<PreparedBatch, any Error>
    {
        Task {
            let read = try await read.value
            try Task.checkCancellation()
            return PreparedBatch(name, generation: generation, after: read.after, events: read.events)
        }
    }

    private static func value(of task: Task<PreparedBatch, any Error>) async throws(EngineError) -> PreparedBatch {
        do {
            return try await task.value
        } catch {
            throw EngineError.from(error)
        }
    }

    /// One batch in a transaction of its own (`applyBatch`).
    private func oneBatch(
        _ name: String, live: Bool, owner: String, limit: Int, leaseSeconds: Double,
        source: BatchSource = .read(nil)
    ) async throws(EngineError) -> ProjectionBatch? {
        do {
            return try await pool.withTransaction { connection in
                try Self.applyBatch(
                    on: connection, name: name, live: live, owner: owner, limit: limit, leaseSeconds: leaseSeconds,
                    source: source)
            }
        } catch {
            throw EngineError.from(error)
        }
    }

    /// One batch in the caller's transaction: lease the checkpoint, read what follows it in the log (the gap-safe
    /// read) unless `source` brings it, write the rows, move the checkpoint. Nil when another process holds the
    /// lease; `version_conflict` when a batch prepared ahead was read from where the checkpoint no longer is
    /// (another process took the rebuild over meanwhile).
    static func applyBatch(
        on connection: Connection, name: String, live: Bool, owner: String, limit: Int, leaseSeconds: Double,
        source: BatchSource = .read(nil)
    ) throws -> ProjectionBatch? {
        guard let checkpoint = try AsyncProjections.lease(on: connection, name: name, live: live, owner: owner) else {
            return nil
        }
        let batch: PreparedBatch
        switch source {
        case .prepared(let prepared):
            guard prepared.after == checkpoint.position, prepared.generation == checkpoint.generation else {
                throw EngineError(
                    .versionConflict, "the rebuild of projection '\(name)' was taken over by another process")
            }
            batch = prepared
        case .read(let shared):
            let events = try shared?.events(after: checkpoint.position, limit: limit)
                ?? EventStore.readForProjections(on: connection, after: checkpoint.position, limit: limit)
            shared?.keep(events, after: checkpoint.position, limit: limit)
            batch = PreparedBatch(name, generation: checkpoint.generation, after: checkpoint.position, events: events)
        }
        for statement in batch.statements { try connection.query(statement.sql, statement.parameters) }
        try AsyncProjections.advance(
            on: connection, checkpoint, to: batch.last, events: batch.events, lastRecordedAt: batch.lastRecordedAt,
            owner: owner, leaseSeconds: leaseSeconds)
        return ProjectionBatch(
            name: name, generation: checkpoint.generation, applied: batch.events,
            events: checkpoint.events + Int64(batch.events), position: batch.last)
    }
}

/// Where `applyBatch` takes its events from: the log (with the read another projection made at the same checkpoint,
/// if any), or a batch a rebuild read and encoded ahead.
enum BatchSource: Sendable {
    case read(SharedRead?)
    case prepared(PreparedBatch)
}

/// The last batch one `followProjections` read, for the next projection at the same checkpoint.
final class SharedRead: Sendable {
    private let read = Mutex<(after: LogPosition, limit: Int, events: [ProjectedEvent])?>(nil)

    func events(after position: LogPosition, limit: Int) -> [ProjectedEvent]? {
        read.withLock { read in
            guard let read, read.after == position, read.limit == limit else { return nil }
            return read.events
        }
    }

    func keep(_ events: [ProjectedEvent], after position: LogPosition, limit: Int) {
        read.withLock { $0 = (position, limit, events) }
    }
}

/// A batch of events read from the log after `after`.
struct LogRead: Sendable {
    var after: LogPosition
    var events: [ProjectedEvent]

    /// Where the next read starts.
    var last: LogPosition { events.last?.logPosition ?? after }
}

/// A batch of the log encoded as the statements that write one projection's rows into one generation.
struct PreparedBatch: Sendable {
    var generation: Int
    /// Where the batch was read from, and its last event's position (the same when it is empty).
    var after: LogPosition
    var last: LogPosition
    var statements: [Statement]
    var events: Int
    var lastRecordedAt: Date?

    init(_ name: String, generation: Int, after position: LogPosition, events: [ProjectedEvent]) {
        self.generation = generation
        after = position
        last = events.last?.logPosition ?? position
        statements = AsyncProjections.statements(AsyncRows.rows(name, events), generation: generation)
        self.events = events.count
        lastRecordedAt = events.last?.recordedAt
    }
}

/// The async projections' rows from a batch of the log: the events decoded once (old schema versions upcast),
/// in log order. Events this build cannot read are left out of `timings` and `variables`; `activity` shows their
/// data as it is (`verify` reports them).
enum AsyncRows {
    static func rows(_ name: String, _ events: [ProjectedEvent]) -> AsyncProjectionRows {
        switch name {
        case "timings": .timings(timings(events))
        case "variables": .variables(variables(events))
        case "counts": counts(events)
        default: .activity(activity(events))
        }
    }

    /// The onboardings and tasks the events touched, each once, in the order first touched.
    static func counts(_ events: [ProjectedEvent]) -> AsyncProjectionRows {
        var onboardings: [String] = []
        var tasks: [String] = []
        var seen = Set<String>()
        for event in events {
            if seen.insert("o" + event.streamId).inserted { onboardings.append(event.streamId) }
            if let task = decoded(event)?.taskId, seen.insert("t" + task).inserted { tasks.append(task) }
        }
        return .counts(onboardings: onboardings, tasks: tasks)
    }

    private static func decoded(_ event: ProjectedEvent) -> OnboardingEvent? {
        try? OnboardingEvent.decode(type: event.type, schemaVersion: event.schemaVersion, json: event.dataText)
    }

    static func timings(_ events: [ProjectedEvent]) -> [TaskTimingRow] {
        var rows: [String: TaskTimingRow] = [:]
        var order: [String] = []
        func change(_ taskId: String, _ body: (inout TaskTimingRow) -> Void) {
            if rows[taskId] == nil {
                order.append(taskId)
                rows[taskId] = TaskTimingRow(taskId: taskId, opened: nil, state: "open")
            }
            body(&rows[taskId]!)
        }
        for event in events {
            switch decoded(event) {
            case .taskOpened(let opened)?:
                change(opened.taskId) {
                    $0.opened = .init(
                        onboardingId: event.streamId, step: opened.step, role: opened.role, openedAt: event.recordedAt,
                        dueAt: opened.dueAt)
                    $0.state = "open"
                }
            case .taskClaimed(let claimed)?:
                change(claimed.taskId) {
                    $0.claimedAt = $0.claimedAt ?? event.recordedAt
                    $0.state = "claimed"
                }
            case .taskReleased(let released)?:
                change(released.taskId) { $0.state = "open" }
            case .taskCompleted(let completed)?:
                change(completed.taskId) {
                    $0.completedAt = event.recordedAt
                    $0.completedBy = completed.user
                    $0.state = "completed"
                }
            case .taskCancelled(let cancelled)?:
                change(cancelled.taskId) { $0.state = "cancelled" }
            default:
                continue
            }
        }
        return order.compactMap { rows[$0] }
    }

    static func variables(_ events: [ProjectedEvent]) -> [RecordedVariableRow] {
        var rows: [String: RecordedVariableRow] = [:]
        var order: [String] = []
        for event in events {
            guard case .variablesSet(let set)? = decoded(event) else { continue }
            let setBy = event.actor
            for (name, value) in set.variables.sorted(by: { $0.key < $1.key }) {
                let key = event.streamId + "\u{0}" + name
                if rows[key] == nil { order.append(key) }
                rows[key] = RecordedVariableRow(
                    onboardingId: event.streamId, name: name, value: value.jsonText, path: set.path, setBy: setBy,
                    setAt: event.recordedAt, position: event.position)
            }
        }
        return order.compactMap { rows[$0] }
    }

    static func activity(_ events: [ProjectedEvent]) -> [ActivityRow] {
        events.map { event in
            ActivityRow(
                position: event.position, onboardingId: event.streamId, version: event.version, type: event.type,
                summary: decoded(event)?.summary ?? event.dataText, actor: event.actor, recordedAt: event.recordedAt)
        }
    }
}

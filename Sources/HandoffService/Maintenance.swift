import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Synchronization

extension Engine {
    /// Empties the named projection (or both) and writes it again from the log, in one transaction: readers see
    /// the old rows or the new ones, and writers wait for the rebuild. Throws `invalid_input` for an unknown name.
    public func rebuildProjections(_ name: String? = nil) async throws(EngineError) -> RebuildReport {
        let names = name.map { [$0] } ?? Projections.names
        for name in names where !Projections.names.contains(name) {
            throw EngineError(
                .invalidInput, "no projection '\(name)'; the projections are \(Projections.names.joined(separator: ", "))")
        }
        let definitions = definitions
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pool.withTransaction { connection in
                    try Projections.beginRebuild(on: connection, names: names)
                    var report = RebuildReport(
                        projections: names, streams: 0, events: 0, onboardings: 0, tasks: 0, problems: [])
                    // Each page of streams is folded on another thread while this one reads the next page and
                    // loads the rows of the one before: the server's work and the fold overlap.
                    let stored = try StoredDefinitions.load(on: connection, cache: definitions)
                    var folding: BackgroundWork<RebuildBatch>?
                    func load(_ batch: RebuildBatch) throws {
                        report.streams += batch.streams
                        report.events += batch.events
                        report.problems += batch.problems
                        if names.contains("onboardings") {
                            try Projections.load(on: connection, onboardings: batch.onboardings)
                            report.onboardings += batch.onboardings.count
                        }
                        if names.contains("tasks") {
                            try Projections.load(on: connection, tasks: batch.tasks)
                            report.tasks += batch.tasks.count
                        }
                    }
                    let read = { try Projections.streamEvents(on: connection, after: $0, version: $1, limit: $2) }
                    try Self.forEachPageOfStreams(read: read) { streams in
                        let previous = try folding?.wait()
                        folding = BackgroundWork { RebuildBatch(definitions: stored, streams: streams) }
                        if let previous { try load(previous) }
                    }
                    if let last = try folding?.wait() { try load(last) }
                    try Projections.finishRebuild(on: connection, names: names, events: report.events)
                    return report
                }
            } catch {
                if attempt < 3, Self.isRetryable(error) { continue }
                throw EngineError.from(error)
            }
        }
    }

    /// Replays every stream through the definition it started with and checks, in one consistent snapshot:
    /// the projections hold exactly what the fold gives; every active onboarding waits on a task, a timer, a call
    /// or a signal, and every open task matches a step waiting in its stream; and each command, decided again on the
    /// state before it, gives the events it appended then (times aside).
    public func verify() async throws(EngineError) -> VerifyReport {
        let definitions = definitions
        do {
            return try await pool.withTransaction(isolation: .repeatableRead) { connection in
                let folding = Folding(connection: connection, definitions: definitions)
                var onboardingRows = Dictionary(
                    try Projections.allOnboardings(on: connection).map { ($0.id, $0) },
                    uniquingKeysWith: { first, _ in first })
                var taskRows = Dictionary(
                    try Projections.allTasks(on: connection).map { ($0.id, $0) },
                    uniquingKeysWith: { first, _ in first })
                var report = VerifyReport(streams: 0, events: 0, decisions: 0, problems: [])
                try Self.forEachStream(on: connection) { events in
                    report.streams += 1
                    report.events += Int64(events.count)
                    let id = events[0].streamId
                    do {
                        let decoded = try folding.decode(events)
                        let folded = try folding.fold(events, decoded: decoded).folded
                        let state = folded.state
                        report.problems += Self.invariantProblems(state)
                        // The projections.
                        if let row = onboardingRows.removeValue(forKey: id) {
                            if try Rows.view(row) != Rows.view(folded) || row.nextTimerAt != Rows.nextTimer(state) {
                                report.problems.append("\(id): its onboardings row differs from its stream")
                            }
                        } else {
                            report.problems.append("\(id): has no onboardings row")
                        }
                        for task in state.tasks {
                            if let row = taskRows.removeValue(forKey: task.id) {
                                if try Rows.view(row) != Rows.view(task, onboardingId: id) {
                                    report.problems.append("\(id): the tasks row of \(task.id) differs from its stream")
                                }
                            } else {
                                report.problems.append("\(id): task \(task.id) has no tasks row")
                            }
                        }
                        // The decisions.
                        let (checked, differences) = Self.redecide(
                            events, decoded: decoded, interpreter: folding.interpreter)
                        report.decisions += checked
                        report.problems += differences.map { "\(id): \($0.detail)" }
                    } catch {
                        report.problems.append("\(id): \(EngineError.from(error).message)")
                    }
                }
                report.problems += onboardingRows.keys.sorted().map { "\($0): an onboardings row without a stream" }
                report.problems += taskRows.keys.sorted().map { "\($0): a tasks row without a task in any stream" }
                return report
            }
        } catch {
            throw EngineError.from(error)
        }
    }

    /// What must hold for every onboarding at every commit.
    static func invariantProblems(_ state: OnboardingState) -> [String] {
        var problems: [String] = []
        let id = state.onboardingId
        if state.status == .active, state.openTasks.isEmpty, state.timers.isEmpty, state.awaitedSignals.isEmpty,
            state.pendingCalls.isEmpty
        {
            problems.append("\(id): is active but waits on no task, timer, signal or call")
        }
        for task in state.openTasks
        where !state.activeSteps.contains(where: { $0.path == task.path && $0.kind == "task" }) {
            problems.append("\(id): task \(task.id) is \(task.state.rawValue) but step \(task.path) is not waiting")
        }
        return problems
    }

    /// A stored command that decides differently now: the version and type of the first event it appended, and
    /// what differs.
    struct Redecision: Sendable {
        var version: Int64
        var type: String
        var detail: String
        /// The first event that differs: its version, what the history has there and what is decided now (a
        /// type and its data; nil past the end of either). Nil when the command is refused now.
        var differing: (version: Int64, recorded: String?, decided: String?)?
    }

    /// Decides each stored command again on the state before it; returns how many were checked and what differed.
    ///
    /// The interpreter of the definition the run is pinned to (`interpreter` gives it by content hash, and the
    /// newer one after an upgrade) folds the stream as it goes and decides each command. With a `candidate`
    /// definition instead, which folds and decides everything, the definition's identity in `OnboardingStarted`
    /// (its content hash and version) is left out of the comparison; `first` stops at the first difference: after
    /// it the states part ways and every later command would differ too.
    static func redecide(
        _ events: [RecordedEvent], decoded: [OnboardingEvent], interpreter lookup: (String) throws -> Interpreter,
        candidate: Interpreter? = nil, first: Bool = false
    ) -> (Int, [Redecision]) {
        let ignoringDefinition = candidate != nil
        guard case .started(let started)? = decoded.first else { return (0, []) }
        var interpreter: Interpreter
        do {
            interpreter = try candidate ?? lookup(started.contentHash)
        } catch {
            return (0, [Redecision(version: 1, type: "OnboardingStarted", detail: EngineError.from(error).message)])
        }
        var state: OnboardingState?
        var checked = 0
        var differences: [Redecision] = []
        var index = 0
        func comparable(_ events: [OnboardingEvent]) -> [OnboardingEvent] {
            let events = withoutTimes(events)
            guard ignoringDefinition else { return events }
            return events.map { event in
                guard case .started(var started) = event else { return event }
                started.contentHash = ""
                started.workflowVersion = 0
                return .started(started)
            }
        }
        while index < events.count {
            var end = index + 1
            let appendedTogether = events[index].commandGroup
            while end < events.count, events[end].commandGroup == appendedTogether { end += 1 }
            let group = Array(decoded[index..<end])
            if let (command, now) = command(of: group, recordedAt: events[index].recordedAt, state: state) {
                checked += 1
                let version = events[index].version
                let type = group.first?.type ?? ""
                do {
                    let again = try interpreter.decide(state, command, now: now)
                    let (decided, recorded) = (comparable(again), comparable(group))
                    if decided != recorded {
                        let at = decided.indices.first { $0 >= recorded.count || decided[$0] != recorded[$0] } ?? decided.count
                        func text(_ events: [OnboardingEvent]) -> String? {
                            guard at < events.count else { return nil }
                            let data = (try? events[at].encoded()).map { String(decoding: $0.data, as: UTF8.self) }
                            return "\(events[at].type) \(data ?? events[at].summary)"
                        }
                        differences.append(
                            Redecision(
                                version: version, type: type,
                                detail: "the \(type) command at version \(version) decides \(again.map(\.type)) now, "
                                    + "not \(group.map(\.type))",
                                differing: (version + Int64(at), text(group), text(again))))
                    }
                } catch {
                    differences.append(
                        Redecision(
                            version: version, type: type,
                            detail: "the command at version \(version) is refused now: \(error)"))
                }
                if first, !differences.isEmpty { return (checked, differences) }
            }
            for event in group {
                state = interpreter.evolve(state, event)
                if candidate == nil, case .upgraded(let upgraded) = event {
                    do {
                        interpreter = try lookup(upgraded.contentHash)
                    } catch {
                        differences.append(
                            Redecision(
                                version: events[index].version, type: event.type,
                                detail: EngineError.from(error).message))
                        return (checked, differences)
                    }
                }
            }
            index = end
        }
        return (checked, differences)
    }

    /// The command that appended a group of events, and the time it was decided at.
    static func command(
        of group: [OnboardingEvent], recordedAt: Date, state: OnboardingState?
    ) -> (OnboardingCommand, Date)? {
        var now = recordedAt
        for event in group {
            if case .taskOpened(let opened) = event {
                now = opened.createdAt
                break
            }
        }
        for event in group {
            switch event {
            case .started(let started):
                return (.start(onboardingId: started.onboardingId, inputs: started.inputs), now)
            case .taskClaimed(let claimed):
                let role = state?.task(claimed.taskId)?.role ?? ""
                return (.claimTask(taskId: claimed.taskId, user: claimed.assignee, roles: [role]), now)
            case .taskReleased(let released):
                let user = released.releasedBy ?? released.assignee
                return (.releaseTask(taskId: released.taskId, user: user, overriding: released.releasedBy != nil), now)
            case .taskCompleted(let completed):
                return (
                    .completeTask(
                        taskId: completed.taskId, user: completed.user, outputs: completed.outputs,
                        checklist: Set(completed.checklist)), now
                )
            case .signalReceived(let signal):
                return (.deliverSignal(name: signal.signal, data: signal.data), now)
            case .timerFired(let fired):
                let due = state?.timers.first { $0.id == fired.timerId }?.dueAt ?? now
                return (.fireTimer(timerId: fired.timerId), max(now, due))
            case .cancelled(let cancelled):
                return (.cancel(user: cancelled.user, reason: cancelled.reason), now)
            default:
                continue
            }
        }
        return nil
    }

    /// Events with their times blanked, to compare decisions made at a time that can't be recovered exactly.
    static func withoutTimes(_ events: [OnboardingEvent]) -> [OnboardingEvent] {
        events.map { event in
            switch event {
            case .taskOpened(var opened):
                opened.createdAt = .distantPast
                opened.dueAt = opened.dueAt.map { _ in .distantPast }
                return .taskOpened(opened)
            case .timerScheduled(var scheduled):
                scheduled.dueAt = .distantPast
                return .timerScheduled(scheduled)
            default:
                return event
            }
        }
    }

    /// Calls `body` with each stream's events in version order, streams in id order, reading in pages.
    static func forEachStream(on connection: Connection, _ body: ([RecordedEvent]) throws -> Void) throws {
        try forEachPageOfStreams(read: { try Projections.events(on: connection, after: $0, version: $1, limit: $2) }) {
            streams in
            for stream in streams { try body(stream) }
        }
    }

    /// Calls `body` with the whole streams of each page of about 5,000 events that `read` returns (a stream is
    /// never split: the tail of a page waits for the next one), streams in id order, each stream's events in
    /// version order. `read(stream, version, limit)` returns the events after that stream and version.
    static func forEachPageOfStreams<Event: FoldableEvent>(
        read: (String, Int64, Int) throws -> [Event], _ body: ([[Event]]) throws -> Void
    ) throws {
        let pageSize = 5_000
        var after = ("", Int64(0))
        var current: [Event] = []
        var streams: [[Event]] = []
        while true {
            let page = try read(after.0, after.1, pageSize)
            streams = []
            for event in page {
                if let first = current.first, first.streamId != event.streamId {
                    streams.append(current)
                    current = []
                }
                current.append(event)
            }
            guard let last = page.last, page.count == pageSize else { break }
            if !streams.isEmpty { try body(streams) }
            after = (last.streamId, last.version)
        }
        // The last page: what it completed, and the stream it ends with.
        if !current.isEmpty { streams.append(current) }
        if !streams.isEmpty { try body(streams) }
    }
}

/// The interpreter of every stored definition, loaded up front on the connection, so that folds on other threads
/// (a rebuild's) never need it. Definitions that no longer load are kept with the reason.
struct StoredDefinitions: Sendable {
    private var interpreters: [String: Interpreter] = [:]
    private var unloadable: [String: String] = [:]

    static func load(on connection: Connection, cache: DefinitionCache) throws -> StoredDefinitions {
        let folding = Folding(connection: connection, definitions: cache)
        var stored = StoredDefinitions()
        for contentHash in try DefinitionStore.contentHashes(on: connection) {
            do {
                stored.interpreters[contentHash] = try folding.interpreter(contentHash)
            } catch {
                stored.unloadable[contentHash] = EngineError.from(error).message
            }
        }
        return stored
    }

    func interpreter(_ contentHash: String) throws -> Interpreter {
        if let interpreter = interpreters[contentHash] { return interpreter }
        throw EngineError(
            .internal, unloadable[contentHash] ?? "the definition with content hash \(contentHash) is not stored")
    }
}

/// The rows a rebuild folded from one page of streams.
struct RebuildBatch: Sendable {
    var onboardings: [OnboardingRecord] = []
    var tasks: [TaskRecord] = []
    var streams = 0
    var events: Int64 = 0
    /// Streams that could not be folded, with why.
    var problems: [String] = []

    init(definitions: StoredDefinitions, streams: [[StreamEvent]]) {
        for events in streams {
            self.streams += 1
            self.events += Int64(events.count)
            do {
                let folded = try Folding.fold(
                    events, decoded: Folding.decode(events), interpreter: definitions.interpreter
                ).folded
                onboardings.append(Rows.record(folded))
                tasks += folded.state.tasks.map { Rows.record($0, onboardingId: folded.state.onboardingId) }
            } catch {
                problems.append("\(events[0].streamId): \(EngineError.from(error).message)")
            }
        }
    }
}

/// Work that runs on another thread while the caller goes on; `wait()` blocks until it is done and returns what
/// it returned (or throws what it threw). For blocking code off the cooperative pool (a pooled connection's
/// thread), never for async tasks.
final class BackgroundWork<Value: Sendable>: Sendable {
    private let outcome = Mutex<Result<Value, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global().async { [self] in
            let result = Result { try work() }
            outcome.withLock { $0 = result }
            done.signal()
        }
    }

    func wait() throws -> Value {
        done.wait()
        done.signal()
        guard let result = outcome.withLock({ $0 }) else {
            preconditionFailure("the work signalled before storing its result")
        }
        return try result.get()
    }
}

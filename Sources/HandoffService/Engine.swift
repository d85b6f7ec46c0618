import Crypto
import Foundation
import HandoffCore
import HandoffStore
import Identifiers
import Postgres
import Timestamps

/// The engine people use: starts onboardings, hands their tasks out through the queue, and answers where every
/// onboarding is and how it got there.
///
/// Every write runs one transaction: take the onboarding's stream lock, read and fold its stream through the
/// definition it started with, decide (pure, in the core), append the new events with the expected version (the
/// commit point), and write the projection rows and the command's answer in the same transaction. A
/// `version_conflict` (or a deadlock the database broke) rolls everything back and the command is decided again on
/// fresh state, up to `maximumAttempts` times.
///
/// Writes that carry a command id are idempotent: the same id again returns the first answer and writes nothing,
/// also concurrently and after a restart (answers are stored in the database). The same id with a different request
/// is `invalid_input`.
///
/// Safe to use from many tasks at once; each call borrows one pooled connection for its transaction.
public struct Engine: Sendable {
    public let pool: ConnectionPool
    public let workflows: WorkflowLibrary
    let clock: @Sendable () -> Date
    let definitions = DefinitionCache()
    let snapshots = SnapshotCache()
    let notifier: LogNotifier
    /// Reads for views from a streaming replica (`DATABASE_READ_URL`), when there is one.
    let replica: ReplicaReads?

    /// How often a write is decided again after losing a race, before it fails with `version_conflict`.
    public static let maximumAttempts = 10
    /// How many queue rows `nextTask` tries in one transaction before starting over.
    static let maximumCandidates = 32
    /// The largest page a listing returns.
    public static let maximumLimit = 1_000

    /// - Parameter clock: the engine's only source of time; `now` for every decision comes from it.
    /// - Parameter readPool: a pool on a streaming replica of `pool`'s database, for the reads that serve views
    ///   (`GET` routes, listings, history); writes and everything else use `pool`.
    public init(
        pool: ConnectionPool, readPool: ConnectionPool? = nil, workflows: WorkflowLibrary,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.pool = pool
        self.workflows = workflows
        self.clock = clock
        notifier = LogNotifier(pool: pool)
        replica = readPool.map { ReplicaReads(pool: $0) }
    }

    /// Closes the engine's pools (the primary's and the replica's).
    public func close() {
        pool.close()
        replica?.pool.close()
    }

    /// A write committed: the live pages are told, and this process's next read from a replica waits for it.
    func committed() {
        notifier.poke()
        replica?.wrote()
    }

    /// The engine's time now: what its decisions, due times and overdue marks are measured by.
    public var now: Date { clock() }

    /// Waits until the live pages have been told of every write so far; call it before a short-lived process
    /// closes its pool.
    public func flushNotifications() async {
        await notifier.flush()
    }

    // MARK: - Writes

    /// Starts an onboarding of the named workflow (from the library) and returns it.
    ///
    /// The definition is stored by content hash if it is new, and the onboarding uses it for its whole life.
    /// Inputs may hold text for boolean and integer inputs. Without `id`, an id is made from the workflow's id.
    /// Throws `not_found` (no such workflow), `invalid_input` (bad inputs, an id already started).
    public func start(
        workflow: String, inputs: [String: Value], id: String? = nil, actor: String, commandId: String? = nil,
        allowedRoles: Set<String>? = nil
    ) async throws(EngineError) -> OnboardingView {
        let definition = try workflows.definition(workflow)
        if let allowedRoles {
            try Self.authorizeStarter(allowedRoles, definition, doing: "start")
        }
        let interpreter = Interpreter(definition: definition)
        definitions.remember(interpreter)
        let onboardingId = id ?? Self.makeId(workflow: definition.id)
        try Self.checkActorName(actor, what: "the acting user")
        try Self.checkInputDepth(inputs, what: "input")
        let request = StartRequest(workflow: workflow, inputs: inputs, id: id, actor: actor)
        let storeDefinition = !definitions.isStored(definition.contentHash)
        let view: OnboardingView = try await perform(
            kind: "start", commandId: commandId, request: request, stream: onboardingId
        ) { context in
            if storeDefinition {
                try await DefinitionStore.store(on: context.connection, DefinitionRecord(definition))
            }
            let loaded = try await context.load(onboardingId)
            let applied = try context.apply(
                loaded, interpreter: loaded.interpreter ?? interpreter,
                command: .start(onboardingId: onboardingId, inputs: inputs), actor: actor)
            return (Rows.view(applied.folded), applied)
        }
        definitions.markStored(definition.contentHash)
        return view
    }

    /// Claims a task for `user`, who must hold the task's role (one of `roles`).
    ///
    /// Claiming a task one already holds changes nothing. Throws `not_found`, `task_already_claimed`,
    /// `forbidden_role`, `task_not_open`.
    public func claim(
        taskId: String, user: String, roles: Set<String>, commandId: String? = nil
    ) async throws(EngineError) -> TaskView {
        let onboardingId = try Self.onboardingId(ofTask: taskId)
        try Self.checkActorName(user, what: "the acting user")
        let request = TaskRequest(taskId: taskId, user: user, roles: roles.sorted())
        return try await perform(kind: "claim", commandId: commandId, request: request, stream: onboardingId) {
            context in
            let loaded = try await context.load(onboardingId, task: taskId)
            let applied = try context.apply(
                loaded, command: .claimTask(taskId: taskId, user: user, roles: roles), actor: user)
            return (try Self.taskView(taskId, in: applied.folded), applied)
        }
    }

    /// Claims the next open task of one of `roles` for `user` (oldest first, then by due time), skipping tasks
    /// whose onboarding another transaction is changing right now; nil when none is open.
    public func nextTask(roles: Set<String>, user: String, commandId: String? = nil) async throws(EngineError)
        -> TaskView?
    {
        guard !roles.isEmpty else { throw EngineError(.invalidInput, "claiming the next task needs a role") }
        try Self.checkActorName(user, what: "the acting user")
        let request = TaskRequest(taskId: nil, user: user, roles: roles.sorted())
        return try await perform(
            kind: "next", commandId: commandId, request: request, stream: nil, queue: roles.sorted()
        ) { context in
            // The queue row is read before its stream lock is taken: when someone changed the task in between,
            // the next query (a fresh snapshot) no longer lists it, so try the next one. The first candidate
            // came with the transaction's BEGIN.
            for attempt in 0..<Self.maximumCandidates {
                let next = attempt == 0
                    ? context.candidate
                    : try await TaskQueue.lockNextOpenTask(on: context.connection, roles: roles.sorted())
                guard let candidate = next else {
                    return (nil, nil)
                }
                let loaded = try await context.load(candidate.onboardingId)
                guard loaded.folded?.state.task(candidate.taskId)?.state == .open else { continue }
                let applied = try context.apply(
                    loaded, command: .claimTask(taskId: candidate.taskId, user: user, roles: roles), actor: user)
                return (try Self.taskView(candidate.taskId, in: applied.folded), applied)
            }
            throw Retry.staleCandidate
        }
    }

    /// Gives a claimed task back to the queue; only its holder may, or with `overriding` (an admin) anyone, which
    /// the event records. Throws `task_not_claimed_by_you`.
    public func release(
        taskId: String, user: String, overriding: Bool = false, commandId: String? = nil
    ) async throws(EngineError) -> TaskView {
        let onboardingId = try Self.onboardingId(ofTask: taskId)
        try Self.checkActorName(user, what: "the acting user")
        let request = TaskRequest(taskId: taskId, user: user, roles: overriding ? ["admin"] : [])
        return try await perform(kind: "release", commandId: commandId, request: request, stream: onboardingId) {
            context in
            let loaded = try await context.load(onboardingId, task: taskId)
            let applied = try context.apply(
                loaded, command: .releaseTask(taskId: taskId, user: user, overriding: overriding), actor: user)
            return (try Self.taskView(taskId, in: applied.folded), applied)
        }
    }

    /// Completes a task `user` holds with its outputs and ticked checklist items; the onboarding advances in the
    /// same transaction, so the next tasks are in the queue when this returns.
    ///
    /// With `roles`, the caller must hold the task's role or one it was escalated to (`forbidden_role` otherwise);
    /// nil checks no role (an
    /// operator). Throws `task_not_claimed_by_you`, `task_not_open`, `invalid_outputs`, `checklist_incomplete`.
    public func complete(
        taskId: String, user: String, outputs: [String: Value], checklist: Set<String>, commandId: String? = nil,
        roles: Set<String>? = nil
    ) async throws(EngineError) -> TaskView {
        let onboardingId = try Self.onboardingId(ofTask: taskId)
        try Self.checkActorName(user, what: "the acting user")
        try Self.checkInputDepth(outputs, what: "output")
        try await precheck(outputs, of: taskId)
        let request = CompleteRequest(taskId: taskId, user: user, outputs: outputs, checklist: checklist.sorted())
        return try await perform(kind: "complete", commandId: commandId, request: request, stream: onboardingId) {
            context in
            let loaded = try await context.load(onboardingId, task: taskId)
            if let roles, let task = loaded.folded?.state.task(taskId), !task.isClaimable(by: roles) {
                throw EngineError(.forbiddenRole, "task '\(taskId)' is for role '\(task.role)'")
            }
            let applied = try context.apply(
                loaded, command: .completeTask(taskId: taskId, user: user, outputs: outputs, checklist: checklist),
                actor: user)
            return (try Self.taskView(taskId, in: applied.folded), applied)
        }
    }

    /// Values longer than this are checked against the task's fields before the write takes any lock.
    static let precheckedLength = 256

    /// Refuses long output values that don't fit their fields before any lock is taken: a pattern's cost grows
    /// with the value's length, and a stream lock must not wait on it. Short values are checked in the write.
    private func precheck(_ outputs: [String: Value], of taskId: String) async throws(EngineError) {
        guard outputs.values.contains(where: { ($0.stringValue?.utf8.count ?? 0) > Self.precheckedLength }) else {
            return
        }
        let record = try await read { connection in try Projections.task(on: connection, id: taskId) }
        guard let record, let fields = try? OutputField.list(parsing: record.outputs) else { return }
        let problems = Interpreter.problems(ofGiven: outputs, for: fields)
        guard problems.isEmpty else {
            throw EngineError(
                .invalidOutputs,
                "task '\(taskId)' can't be completed: " + problems.map(\.description).joined(separator: "; "),
                problems: problems)
        }
    }

    /// Delivers a named signal to every step of the onboarding waiting for it. Throws `signal_not_awaited` when
    /// none waits, `onboarding_not_active`. With `allowedRoles`, one of them must be `admin` or a starter of the
    /// onboarding's pinned workflow (`forbidden_role`).
    public func signal(
        onboardingId: String, name: String, data: Value = .null, actor: String, commandId: String? = nil,
        allowedRoles: Set<String>? = nil
    ) async throws(EngineError) -> OnboardingView {
        try Self.checkActorName(actor, what: "the acting user")
        try Self.checkInputDepth(data, what: "the signal's data")
        let request = SignalRequest(onboardingId: onboardingId, name: name, data: data, actor: actor)
        return try await perform(kind: "signal", commandId: commandId, request: request, stream: onboardingId) {
            context in
            let loaded = try await context.load(onboardingId)
            if let allowedRoles, let interpreter = loaded.interpreter {
                try Self.authorizeStarter(allowedRoles, interpreter.definition, doing: "signal")
            }
            let applied = try context.apply(loaded, command: .deliverSignal(name: name, data: data), actor: actor)
            return (Rows.view(applied.folded), applied)
        }
    }

    /// Cancels an active onboarding, withdrawing its open tasks and timers. Needs a reason. `allowedRoles` as for
    /// `signal`.
    public func cancel(
        onboardingId: String, user: String, reason: String, commandId: String? = nil, allowedRoles: Set<String>? = nil
    ) async throws(EngineError) -> OnboardingView {
        try Self.checkActorName(user, what: "the acting user")
        let request = CancelRequest(onboardingId: onboardingId, user: user, reason: reason)
        return try await perform(kind: "cancel", commandId: commandId, request: request, stream: onboardingId) {
            context in
            let loaded = try await context.load(onboardingId)
            if let allowedRoles, let interpreter = loaded.interpreter {
                try Self.authorizeStarter(allowedRoles, interpreter.definition, doing: "cancel")
            }
            let applied = try context.apply(loaded, command: .cancel(user: user, reason: reason), actor: user)
            return (Rows.view(applied.folded), applied)
        }
    }

    /// Moves an active run to version `version` of its workflow (`handoff upgrade`): the definition in the
    /// workflows folder when it is that version, else the one stored under it. The run goes on from the steps it
    /// is in, as the newer definition says; `OnboardingUpgraded` records the move, and replays before it still use
    /// the older definition.
    ///
    /// Throws `not_found` (no such onboarding, or no definition of that version), `onboarding_not_active`, and
    /// `invalid_input` naming the reason when the version is not newer or a step the run is in now is not a step
    /// of the same kind there (or an open task's step not a task for the same role).
    public func upgrade(
        onboardingId: String, toVersion version: Int, user: String, commandId: String? = nil
    ) async throws(EngineError) -> OnboardingView {
        try Self.checkActorName(user, what: "the acting user")
        let workflowId = try await onboarding(onboardingId).workflow
        let target = try await upgradeTarget(workflowId, version: version)
        let storeDefinition = !definitions.isStored(target.contentHash)
        let request = UpgradeRequest(onboardingId: onboardingId, version: version, user: user)
        let view: OnboardingView = try await perform(
            kind: "upgrade", commandId: commandId, request: request, stream: onboardingId
        ) { context in
            if storeDefinition {
                try await DefinitionStore.store(on: context.connection, DefinitionRecord(target))
            }
            let loaded = try await context.load(onboardingId)
            let applied = try context.apply(loaded, command: .upgrade(to: target), actor: user)
            return (Rows.view(applied.folded), applied)
        }
        definitions.remember(Interpreter(definition: target))
        definitions.markStored(target.contentHash)
        return view
    }

    /// The definition of `workflowId` at `version`: the workflows folder's when it is that version, else the one
    /// stored (by a run that started with it).
    private func upgradeTarget(_ workflowId: String, version: Int) async throws(EngineError) -> WorkflowDefinition {
        let file = try? workflows.definition(workflowId)
        if let file, file.version == version { return file }
        let stored = try await read { connection in
            try DefinitionStore.records(on: connection, workflowId: workflowId, version: version)
        }
        let found = "the workflows folder has " + (file.map { "v\($0.version)" } ?? "none")
        guard let record = stored.first else {
            throw EngineError(.notFound, "no definition of \(workflowId) v\(version) (\(found), and none is stored)")
        }
        guard stored.count == 1 else {
            throw EngineError(
                .invalidInput,
                "\(stored.count) stored definitions are \(workflowId) v\(version) (its file changed without a new "
                    + "version); put the one to upgrade to in the workflows folder")
        }
        return try Folding.definition(record, .internal)
    }

    // MARK: - Reads

    /// One onboarding from the status projection. Throws `not_found`.
    public func onboarding(_ id: String) async throws(EngineError) -> OnboardingView {
        let view = try await viewRead { connection in try Projections.onboarding(on: connection, id: id).map(Rows.view) }
        guard let view else { throw EngineError(.notFound, "no onboarding '\(id)'") }
        return view
    }

    /// Onboardings by start time; pass a page's `next` as `after` for the following page. Throws `invalid_input`
    /// for an unknown state or cursor.
    public func onboardings(
        _ query: OnboardingQuery = OnboardingQuery(), limit: Int = 100, after: String? = nil
    ) async throws(EngineError) -> Page<OnboardingView> {
        let limit = try Self.check(limit: limit)
        if let state = query.state, !["active", "completed", "cancelled", "failed"].contains(state) {
            throw EngineError(.invalidInput, "an onboarding state is active, completed, cancelled or failed, not '\(state)'")
        }
        if query.values.count > Self.maximumValueFilters {
            throw EngineError(
                .invalidInput, "at most \(Self.maximumValueFilters) input or variable filters, not \(query.values.count)")
        }
        for (name, value) in query.values {
            if name.isEmpty || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw EngineError(.invalidInput, "a filter names an input or variable: NAME=VALUE, not '\(name)=\(value)'")
            }
            if value.unicodeScalars.contains("\u{0}") || name.count > 200 || value.count > 1000 {
                throw EngineError(.invalidInput, "the filter on \(name.prefix(200)) is too long or holds a NUL character")
            }
        }
        let views = try await viewRead { connection in
            let rows = try Projections.onboardings(on: connection, matching: query, limit: limit, after: after)
            if rows.isEmpty, let after, try Projections.onboarding(on: connection, id: after) == nil {
                throw EngineError(.invalidInput, Self.unknownCursor(after, of: "onboarding"))
            }
            return try rows.map(Rows.view)
        }
        return Page(items: views, next: views.count == limit ? views.last?.id : nil)
    }

    /// The most input or variable filters one listing takes.
    public static let maximumValueFilters = 8

    /// A value filter as interfaces take it, `NAME=VALUE` (the value is everything after the first `=`); throws
    /// `invalid_input` naming `option` (`--where`, `where`) when there is no `=` or no name.
    public static func valueFilter(_ text: String, option: String) throws(EngineError) -> (name: String, value: String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw EngineError(.invalidInput, "\(option) takes NAME=VALUE, not '\(text)'")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// One task from the queue projection. Throws `not_found`.
    public func task(_ id: String) async throws(EngineError) -> TaskView {
        let view = try await viewRead { connection in try Projections.task(on: connection, id: id).map(Rows.view) }
        guard let view else { throw EngineError(.notFound, "no task '\(id)'") }
        return view
    }

    /// Tasks oldest first, then by due time; pass a page's `next` as `after` for the following page.
    ///
    /// With no states in the query, open and claimed tasks are listed (the work not done yet). Throws `not_found`
    /// for an onboarding that does not exist, `invalid_input` for an unknown state or cursor.
    public func tasks(
        _ query: TaskQuery = TaskQuery(), limit: Int = 100, after: String? = nil, overdue: Bool = false
    ) async throws(EngineError) -> Page<TaskView> {
        let limit = try Self.check(limit: limit)
        var query = query
        if overdue { query.dueBefore = clock() }
        if query.states.isEmpty { query.states = ["open", "claimed"] }
        for state in query.states where !["open", "claimed", "completed", "cancelled"].contains(state) {
            throw EngineError(.invalidInput, "a task state is open, claimed, completed or cancelled, not '\(state)'")
        }
        let finalQuery = query
        let views = try await viewRead { connection in
            let rows = try Projections.tasks(on: connection, matching: finalQuery, limit: limit, after: after)
            if rows.isEmpty, let onboardingId = finalQuery.onboardingId,
                try Projections.onboarding(on: connection, id: onboardingId) == nil
            {
                throw EngineError(.notFound, "no onboarding '\(onboardingId)'")
            }
            if rows.isEmpty, let after, try Projections.task(on: connection, id: after) == nil {
                throw EngineError(.invalidInput, Self.unknownCursor(after, of: "task"))
            }
            return try rows.map(Rows.view)
        }
        return Page(items: views, next: views.count == limit ? views.last?.id : nil)
    }

    /// Every event of an onboarding, oldest first, with who caused it; with a filter, the events it keeps.
    /// Throws `not_found`, `invalid_input` (an unknown event type, a time range that ends before it begins).
    public func history(_ id: String, matching filter: HistoryFilter = HistoryFilter()) async throws(EngineError)
        -> [EventView]
    {
        try filter.check()
        let events = try await viewRead { connection in try EventStore.read(on: connection, stream: id) }
        guard !events.isEmpty else { throw EngineError(.notFound, "no onboarding '\(id)'") }
        return try Self.views(of: events.filter(filter.keeps))
    }

    /// JSON the store holds, parsed; `internal` naming `what` holds it when it does not parse.
    static func storedJSON(_ text: String, _ what: String) throws(EngineError) -> Value {
        do {
            return try Value(parsing: text)
        } catch {
            throw EngineError(.internal, "\(what) holds data that is not JSON")
        }
    }

    /// Stored events as they read today: their data upcast to the current version's shape.
    static func views(of events: [RecordedEvent]) throws(EngineError) -> [EventView] {
        try events.map { (event) throws(EngineError) -> EventView in
            let data = try Self.storedJSON(event.dataText, "event \(event.position)")
            return EventView(
                position: event.position, streamId: event.streamId, version: event.version, type: event.type,
                recordedAt: Timestamp.normalized(event.recordedAt), actor: event.metadata.actor,
                commandId: event.metadata.commandId,
                data: OnboardingEvent.upcast(type: event.type, schemaVersion: event.schemaVersion, data: data))
        }
    }

    /// Where a replay stops.
    public enum ReplayPoint: Sendable, Equatable {
        /// Now: every event.
        case latest
        /// After the event with this version (1 is `OnboardingStarted`).
        case version(Int64)
        /// After the last event recorded at or before this time.
        case time(Date)
    }

    /// The onboarding and its tasks as they were at a version or a time, folded from the log through the
    /// definition it started with. Throws `not_found`, `invalid_input` (a version or time outside its history).
    public func replay(_ id: String, at point: ReplayPoint = .latest) async throws(EngineError) -> ReplayView {
        let definitions = definitions
        return try await viewRead { connection in
            let events = try EventStore.read(on: connection, stream: id)
            guard !events.isEmpty else { throw EngineError(.notFound, "no onboarding '\(id)'") }
            let kept: [RecordedEvent]
            switch point {
            case .latest:
                kept = events
            case .version(let version):
                guard version >= 1, version <= Int64(events.count) else {
                    throw EngineError(
                        .invalidInput, "onboarding '\(id)' has versions 1 to \(events.count), not \(version)")
                }
                kept = Array(events.prefix(Int(version)))
            case .time(let time):
                kept = events.filter { $0.recordedAt <= time }
                guard !kept.isEmpty else {
                    throw EngineError(
                        .invalidInput,
                        "onboarding '\(id)' started at \(Timestamp.format(events[0].recordedAt)), after "
                            + Timestamp.format(time))
                }
            }
            let folded = try Folding(connection: connection, definitions: definitions).fold(kept)
            return ReplayView(
                onboarding: Rows.view(folded),
                tasks: folded.state.tasks.map { Rows.view($0, onboardingId: folded.state.onboardingId) },
                version: Int64(folded.state.version))
        }
    }

    /// Every projection's position and lag behind the log: the inline ones, then each async one's live
    /// generation and the next one while a rebuild writes it. Cheap: no scan of the log.
    public func projectionsStatus() async throws(EngineError) -> [ProjectionStatusView] {
        let (inline, async) = try await read { connection in
            (try Projections.status(on: connection), try AsyncProjections.status(on: connection))
        }
        let now = clock()
        return inline.map {
            ProjectionStatusView(
                name: $0.name, kind: "inline", position: $0.position, lagEvents: $0.lagEvents,
                lagSeconds: $0.lagSeconds, state: $0.state, rebuiltAt: $0.rebuiltAt.map(Timestamp.normalized))
        }
            + async.map {
                let held = $0.owner != nil && ($0.leaseUntil.map { $0 > now } ?? false)
                return ProjectionStatusView(
                    name: $0.name, kind: "async", position: $0.position, lagEvents: $0.lagEvents,
                    lagSeconds: $0.lagSeconds, state: !$0.live ? "rebuilding" : held ? "live" : "idle",
                    rebuiltAt: $0.rebuiltAt.map(Timestamp.normalized), generation: $0.generation, events: $0.events,
                    holder: held ? $0.owner : nil, leaseUntil: held ? $0.leaseUntil.map(Timestamp.normalized) : nil)
            }
    }

    // MARK: - Helpers

    static func makeId(workflow: String) -> String {
        let hex = RandomUUID.make().lowercaseText.replacingOccurrences(of: "-", with: "")
        return "\(workflow)-\(hex.prefix(10))"
    }

    /// The onboarding a task id names: task ids are `<onboarding>-t<n>`. Throws `not_found` for other ids.
    public static func onboardingId(ofTask taskId: String) throws(EngineError) -> String {
        guard let marker = taskId.range(of: "-t", options: .backwards), marker.lowerBound > taskId.startIndex,
            !taskId[marker.upperBound...].isEmpty, taskId[marker.upperBound...].allSatisfy(\.isASCII),
            taskId[marker.upperBound...].allSatisfy(\.isNumber)
        else {
            throw EngineError(.notFound, "no task '\(taskId)' (task ids look like <onboarding>-t<n>)")
        }
        return String(taskId[..<marker.lowerBound])
    }

    static func taskView(_ taskId: String, in folded: FoldedOnboarding) throws -> TaskView {
        guard let task = folded.state.task(taskId) else {
            throw EngineError(.notFound, "no task '\(taskId)' in onboarding '\(folded.state.onboardingId)'")
        }
        return Rows.view(task, onboardingId: folded.state.onboardingId)
    }

    /// Why a listing refuses its cursor: a garbage cursor would otherwise look like an empty last page.
    static func unknownCursor(_ after: String, of kind: String) -> String {
        "the cursor '\(after)' is no \(kind) id: pass the `next` of the page before"
    }

    /// The role that administers everything: starts, signals and cancels any onboarding, releases any claim.
    public static let adminRole = "admin"

    /// Refuses with `forbidden_role` unless `roles` holds `admin` or one of the workflow's starters.
    static func authorizeStarter(_ roles: Set<String>, _ definition: WorkflowDefinition, doing what: String)
        throws(EngineError)
    {
        guard !roles.contains(adminRole), roles.isDisjoint(with: definition.starters) else { return }
        let allowed = ([adminRole] + definition.starters).joined(separator: ", ")
        throw EngineError(
            .forbiddenRole, "only the roles \(allowed) may \(what) onboardings of workflow '\(definition.id)'")
    }

    static func check(limit: Int) throws(EngineError) -> Int {
        guard limit >= 1, limit <= maximumLimit else {
            throw EngineError(.invalidInput, "a limit must be between 1 and \(maximumLimit), not \(limit)")
        }
        return limit
    }

    /// Runs a read on a pooled connection, with errors classified.
    func read<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws(EngineError) -> T {
        do {
            return try await pool.withConnection(body)
        } catch {
            throw EngineError.from(error)
        }
    }
}

// MARK: - The write pipeline

/// Why a write's transaction is tried again.

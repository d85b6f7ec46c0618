import Crypto
import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Timestamps

// One write, from BEGIN to COMMIT: the stream lock, the idempotency record, the decision, the append and the
// projection rows in one transaction, with retries.

enum Retry: Error {
    /// Every queue row tried was stale by the time its stream lock was taken.
    case staleCandidate
}

extension Engine {
    /// What a command's body returns: its answer, and what it appended (nil when it changed nothing).
    typealias Outcome<Answer> = (answer: Answer, applied: Applied?)

    /// Runs one write in a transaction, with the stream lock, the idempotency record and retries.
    func perform<Answer: Codable & Sendable, Request: Encodable>(
        kind: String, commandId: String?, request: Request, stream: String?, queue: [String]? = nil,
        _ body: @escaping @Sendable (WriteContext) async throws -> Outcome<Answer>
    ) async throws(EngineError) -> Answer {
        if let commandId, commandId.isEmpty || commandId.count > 200 {
            throw EngineError(.invalidInput, "a command id must have 1 to 200 characters")
        }
        // Only a command id needs the request's fingerprint (to refuse the same id for another request).
        let fingerprint = commandId == nil ? "" : try Self.fingerprint(kind: kind, request: request)
        let definitions = definitions
        let snapshots = snapshots
        let clock = clock
        let fingerprintOfRequest = fingerprint
        var attempt = 0
        while true {
            attempt += 1
            do {
                // One round trip starts the write: BEGIN, the transaction's time, and for a known onboarding the
                // stream lock, the command id's lookup and the read of the stream from this process's last
                // snapshot of it. One more ends it: the append, the projection rows and COMMIT.
                let snapshot = stream.flatMap { snapshots.snapshot($0) }
                let preamble: TaskQueue.Preamble =
                    if let stream {
                        .stream(stream, readingFrom: snapshot.map { Int64($0.state.version) + 1 } ?? 1)
                    } else if let queue {
                        .queue(roles: queue)
                    } else {
                        .none
                    }
                let (answer, folded, appended): (Answer, FoldedOnboarding?, Bool) = try await pool.withAsyncTransaction(
                    pipelinedWith: TaskQueue.writePreamble(preamble, commandId: commandId)
                ) { connection, results in
                    let read = try TaskQueue.preambleResults(results, preamble, commandId: commandId)
                    if let commandId, let recorded = read.command {
                        let answer: Answer = try Self.recordedAnswer(
                            recorded, kind: kind, fingerprint: fingerprintOfRequest, commandId: commandId)
                        return ((answer, nil, false), [])
                    }
                    let preloaded = stream.flatMap { stream in
                        read.events.map { Preloaded(streamId: stream, snapshot: snapshot, events: $0) }
                    }
                    let context = WriteContext(
                        connection: connection, definitions: definitions, snapshots: snapshots, now: clock(),
                        transactionTime: read.transactionTime, commandId: commandId, preloaded: preloaded,
                        candidate: read.candidate)
                    let (answer, applied) = try await body(context)
                    let command = try commandId.map { commandId in
                        CommandRecord(
                            commandId: commandId, onboardingId: applied?.folded.state.onboardingId ?? stream,
                            kind: kind, fingerprint: fingerprintOfRequest, response: try Rows.encode(answer))
                    }
                    let last = applied.flatMap { Self.finalStatement($0, command: command) }.map { [$0] } ?? []
                    return ((answer, applied?.folded, applied?.append != nil), last)
                }
                // Committed: the next command on this onboarding folds only what comes after this state.
                if let folded {
                    snapshots.remember(folded)
                }
                if appended {
                    committed()
                }
                return answer
            } catch {
                let error = StoreError.classify(error)
                if attempt < Self.maximumAttempts, Self.isRetryable(error) {
                    continue
                }
                if Self.isRetryable(error) {
                    throw EngineError(
                        .versionConflict,
                        "the onboarding kept changing while this \(kind) was decided; gave up after \(attempt) tries")
                }
                throw EngineError.from(error)
            }
        }
    }

    /// What a command id's record keeps of its request, to refuse the same id for a different one.
    static func fingerprint<Request: Encodable>(kind: String, request: Request) throws(EngineError) -> String {
        do {
            return Hex.sha256(Data(kind.utf8) + (try StoredJSON.encoder.encode(request)))
        } catch {
            throw EngineError(.invalidInput, "the request can't be encoded: \(error)")
        }
    }

    /// The answer a command id recorded; `invalid_input` when the id was used for another request.
    static func recordedAnswer<Answer: Decodable>(
        _ recorded: CommandRecord, kind: String, fingerprint: String, commandId: String
    ) throws -> Answer {
        guard recorded.kind == kind, recorded.fingerprint == fingerprint else {
            throw EngineError(
                .invalidInput, "command id '\(commandId)' was already used for a different \(recorded.kind) request")
        }
        return try Rows.decode(Answer.self, recorded.response)
    }

    /// The statement that goes out with `COMMIT`: the append with its projection rows, outbox and command record,
    /// or only the command record when the decision appended nothing; nil when there is nothing to write.
    static func finalStatement(_ applied: Applied, command: CommandRecord?) -> Statement? {
        if let append = applied.append {
            return Projections.write(
                onboarding: Rows.record(applied.folded),
                tasks: Rows.changedTasks(from: applied.previous, to: applied.folded.state),
                command: command, notifications: applied.notifications, appending: append)
        }
        return command.map { Projections.write(onboarding: nil, tasks: [], command: $0) }
    }

    /// One write of `performEach`: a command with its id on one known onboarding.
    struct StreamWrite<Answer: Codable & Sendable, Request: Encodable & Sendable>: Sendable {
        var commandId: String
        var request: Request
        var stream: String
        var body: @Sendable (WriteContext) async throws -> Outcome<Answer>
    }

    /// Runs writes of one kind on distinct onboardings in one transaction, so that the batch costs two round trips
    /// and one durable commit instead of two and one each: every stream's lock, command-id lookup and read travel
    /// with `BEGIN` (the locks in stream order), and every append, its projection rows and its outbox with
    /// `COMMIT`, in the writes' order. Each write's result comes back in its place: a write whose decision is
    /// refused (an `EngineError` or `DecisionError` other than `internal`) is left out and the others go on; a repeated command id
    /// answers as before. When the transaction itself fails, each write runs again on its own through `perform`,
    /// with its retries, so a batch never ends worse than its writes one by one.
    func performEach<Answer: Codable & Sendable, Request: Encodable & Sendable>(
        kind: String, _ writes: [StreamWrite<Answer, Request>]
    ) async -> [Result<Answer, EngineError>] {
        // One write, or two on one stream (whose second must read what the first appends): each on its own.
        guard writes.count > 1, Set(writes.map(\.stream)).count == writes.count else {
            return await performAlone(kind: kind, writes)
        }
        var fingerprints: [String] = []
        for write in writes {
            do {
                fingerprints.append(try Self.fingerprint(kind: kind, request: write.request))
            } catch {
                return await performAlone(kind: kind, writes)
            }
        }
        let definitions = definitions
        let snapshots = snapshots
        let clock = clock
        let fingerprintsOfRequests = fingerprints
        let starting = writes.map { snapshots.snapshot($0.stream) }
        let preambles = writes.indices.map { index in
            TaskQueue.Preamble.stream(
                writes[index].stream, readingFrom: starting[index].map { Int64($0.state.version) + 1 } ?? 1)
        }
        // Locks in stream order, whatever order the writes come in, so that two batches never wait on each other.
        let lockOrder = writes.indices.sorted { writes[$0].stream < writes[$1].stream }
        var first: [Statement] = []
        var ranges: [Range<Int>] = Array(repeating: 0..<0, count: writes.count)
        for index in lockOrder {
            let statements = TaskQueue.writePreamble(preambles[index], commandId: writes[index].commandId)
            ranges[index] = first.count..<(first.count + statements.count)
            first += statements
        }
        let preambleRanges = ranges
        do {
            let (results, committed): ([Result<Answer, EngineError>], [FoldedOnboarding]) =
                try await pool.withAsyncTransaction(pipelinedWith: first) { connection, results in
                    var answers: [Result<Answer, EngineError>] = []
                    var committed: [FoldedOnboarding] = []
                    var last: [Statement] = []
                    for (index, write) in writes.enumerated() {
                        let read = try TaskQueue.preambleResults(
                            Array(results[preambleRanges[index]]), preambles[index], commandId: write.commandId)
                        if let recorded = read.command {
                            do {
                                answers.append(.success(try Self.recordedAnswer(
                                    recorded, kind: kind, fingerprint: fingerprintsOfRequests[index],
                                    commandId: write.commandId)))
                            } catch {
                                answers.append(.failure(EngineError.from(error)))
                            }
                            continue
                        }
                        let context = WriteContext(
                            connection: connection, definitions: definitions, snapshots: snapshots, now: clock(),
                            transactionTime: read.transactionTime, commandId: write.commandId,
                            preloaded: read.events.map {
                                Preloaded(streamId: write.stream, snapshot: starting[index], events: $0)
                            },
                            candidate: nil)
                        let answer: Answer
                        let applied: Applied?
                        do {
                            (answer, applied) = try await write.body(context)
                        } catch {
                            // A refused decision leaves the transaction as it was; anything else ends the batch.
                            let refused = EngineError.from(error)
                            guard error is EngineError || error is DecisionError, refused.code != .internal else {
                                throw error
                            }
                            answers.append(.failure(refused))
                            continue
                        }
                        answers.append(.success(answer))
                        guard let applied else { continue }
                        let command = CommandRecord(
                            commandId: write.commandId, onboardingId: applied.folded.state.onboardingId, kind: kind,
                            fingerprint: fingerprintsOfRequests[index], response: try Rows.encode(answer))
                        last += [Self.finalStatement(applied, command: command)].compactMap { $0 }
                        if applied.append != nil { committed.append(applied.folded) }
                    }
                    return ((answers, committed), last)
                }
            for folded in committed {
                snapshots.remember(folded)
            }
            if !committed.isEmpty {
                self.committed()
            }
            return results
        } catch {
            return await performAlone(kind: kind, writes)
        }
    }

    /// `performEach` one write at a time, each in its own transaction.
    private func performAlone<Answer: Codable & Sendable, Request: Encodable & Sendable>(
        kind: String, _ writes: [StreamWrite<Answer, Request>]
    ) async -> [Result<Answer, EngineError>] {
        var results: [Result<Answer, EngineError>] = []
        for write in writes {
            do throws(EngineError) {
                results.append(.success(
                    try await perform(
                        kind: kind, commandId: write.commandId, request: write.request, stream: write.stream, write.body)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }

    static func isRetryable(_ error: any Error) -> Bool {
        switch error {
        case is Retry:
            return true
        case let error as StoreError:
            return error.code == .versionConflict
        case let error as PostgresError:
            // Serialization failure, deadlock broken by the server, a racing insert of the same key.
            return ["40001", "40P01", "23505"].contains(error.sqlState ?? "")
        default:
            return false
        }
    }
}

/// One onboarding after a decision was appended.
struct Applied: Sendable {
    var previous: OnboardingState?
    var events: [OnboardingEvent]
    var folded: FoldedOnboarding
    /// The append of `events`, run with the projection rows and COMMIT; nil when there are none.
    var append: Statement?
    /// The outbox rows of `events`, written by the same statement.
    var notifications: [NewNotification]
}

/// A stream as read and folded inside a write's transaction.
struct Loaded {
    var streamId: String
    var interpreter: Interpreter?
    var folded: FoldedOnboarding?
}

/// A stream read at the start of a write's transaction: the snapshot it started from and the events after it.
struct Preloaded {
    var streamId: String
    var snapshot: FoldedOnboarding?
    var events: [RecordedEvent]
}

/// What a write's body works with inside its transaction.
struct WriteContext {
    let connection: Connection
    let definitions: DefinitionCache
    let snapshots: SnapshotCache
    let now: Date
    /// The transaction's start (`now()` in SQL): the `recorded_at` its events will have.
    let transactionTime: Date
    let commandId: String?
    /// The stream as read with the transaction's BEGIN (under its lock), when the write named it up front.
    var preloaded: Preloaded?
    /// The queue's first candidate, its stream lock taken, when the write claims the next task.
    var candidate: (taskId: String, onboardingId: String)?

    /// Loads the onboarding of a task; `not_found` names the task when the onboarding does not exist.
    func load(_ streamId: String, task taskId: String) async throws -> Loaded {
        let loaded = try await load(streamId)
        guard loaded.folded != nil else { throw EngineError(.notFound, "no task '\(taskId)'") }
        return loaded
    }

    /// Reads and folds a stream, starting from this process's last committed snapshot of it when there is one
    /// (the stream lock is held, so nothing can append meanwhile; events after the snapshot are read and folded).
    /// A stream that came with the transaction's BEGIN, with its definition cached, folds without a round trip.
    func load(_ streamId: String) async throws -> Loaded {
        let folding = Folding(connection: connection, definitions: definitions)
        let snapshot: FoldedOnboarding?
        let newer: [RecordedEvent]
        if let preloaded, preloaded.streamId == streamId {
            (snapshot, newer) = (preloaded.snapshot, preloaded.events)
        } else {
            snapshot = snapshots.snapshot(streamId)
            newer = try await EventStore.read(
                on: connection, stream: streamId, from: snapshot.map { Int64($0.state.version) + 1 } ?? 1)
        }
        if let snapshot {
            var interpreter = try await folding.interpreterWithoutBlocking(snapshot.state.contentHash)
            guard let last = newer.last else {
                return Loaded(streamId: streamId, interpreter: interpreter, folded: snapshot)
            }
            var state = snapshot.state
            for event in try folding.decode(newer) {
                interpreter.evolve(&state, event)
                if case .upgraded(let upgraded) = event {
                    interpreter = try await folding.interpreterWithoutBlocking(upgraded.contentHash)
                }
            }
            let folded = FoldedOnboarding(state: state, startedAt: snapshot.startedAt, updatedAt: last.recordedAt)
            return Loaded(streamId: streamId, interpreter: interpreter, folded: folded)
        }
        let events = newer
        guard !events.isEmpty else { return Loaded(streamId: streamId, interpreter: nil, folded: nil) }
        let decoded = try folding.decode(events)
        // The definitions the stream pins (the one it started with, those it was upgraded to), fetched before the
        // fold (which is synchronous) asks for them.
        var pinned: [String: Interpreter] = [:]
        for contentHash in Folding.pinnedHashes(decoded) where pinned[contentHash] == nil {
            pinned[contentHash] = try await folding.interpreterWithoutBlocking(contentHash)
        }
        let (folded, interpreter) = try Folding.fold(events, decoded: decoded) { contentHash in
            guard let interpreter = pinned[contentHash] else {
                throw EngineError(.internal, "the definition with content hash \(contentHash) was not loaded")
            }
            return interpreter
        }
        return Loaded(streamId: streamId, interpreter: interpreter, folded: folded)
    }

    /// Decides `command` on the loaded state and appends the events with the version read (the commit point).
    func apply(
        _ loaded: Loaded, interpreter: Interpreter? = nil, command: OnboardingCommand, actor: String
    ) throws -> Applied {
        guard let interpreter = interpreter ?? loaded.interpreter else {
            throw EngineError(.notFound, "no onboarding '\(loaded.streamId)'")
        }
        let previous = loaded.folded?.state
        // The decision folds each event as it emits it: the state after them comes with them.
        let decision = try interpreter.decision(previous, command, now: now)
        let events = decision.events
        if events.isEmpty {
            guard let folded = loaded.folded else {
                throw EngineError(.internal, "a decision on a new onboarding emitted nothing")
            }
            return Applied(previous: previous, events: [], folded: folded, append: nil, notifications: [])
        }
        let metadata = EventMetadata(actor: actor, correlationId: loaded.streamId, commandId: commandId)
        var encoded: [(event: OnboardingEvent, data: Data)] = []
        let newEvents = try events.map { event in
            let (type, data) = try event.encoded()
            encoded.append((event, data))
            return NewEvent(type: type, schemaVersion: event.schemaVersion, data: data, metadata: metadata)
        }
        let expected: ExpectedVersion = previous.map { .exact(Int64($0.version)) } ?? .noStream
        // Not run here: the append goes out with the projection rows, the outbox and COMMIT, the write's commit
        // point.
        let append = try EventStore.appendStatement(to: loaded.streamId, expected: expected, events: newEvents)
        let notifications = NotificationKind.notifications(
            encoded, state: decision.state, firstVersion: (previous?.version ?? 0) + 1, time: transactionTime)
        return Applied(
            previous: previous, events: events,
            folded: FoldedOnboarding(
                state: decision.state, startedAt: loaded.folded?.startedAt ?? transactionTime, updatedAt: transactionTime),
            append: append, notifications: notifications)
    }
}

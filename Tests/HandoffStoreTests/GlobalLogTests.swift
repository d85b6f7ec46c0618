import Foundation
import HandoffStore
import HandoffTestSupport
import Postgres
import Synchronization
import Testing

/// The global log's ordering guarantees. Races are made deterministic by holding transactions open by hand.
///
/// The horizon readers stop at is cluster-wide, so other tests' short transactions can delay what a reader sees
/// for a moment: assertions of what a reader eventually sees poll (`eventually`); assertions of what it must not
/// see yet hold at once, because the transaction that hides it is still open.
@Suite struct GlobalLogTests {
    @Test func anEventWhoseTransactionStartedFirstAndCommittedLastIsNotSkipped() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let early = try database.connect()
        let earlyTransaction = try await offload {
            try early.execute("BEGIN")
            return try early.query("SELECT pg_current_xact_id()").rows[0].uint64(0)
        }
        let late = try await store.append(to: "late", expected: .noStream, events: [event("Late")])
        #expect(late.events[0].transactionId > earlyTransaction)

        // The early transaction is still open: the reader must not move past it.
        #expect(try await store.readAll(after: .start).isEmpty)

        let earlyAppend = try await offload {
            let result = try EventStore.append(on: early, to: "early", expected: .noStream, events: [event("Early")])
            try early.execute("COMMIT")
            return result
        }
        #expect(earlyAppend.events[0].position > late.events[0].position)

        var seen: [RecordedEvent] = []
        #expect(try await eventually { seen = try await store.readAll(after: .start); return seen.count == 2 })
        #expect(seen.map(\.type) == ["Early", "Late"])
        #expect(try await store.readAll(after: .start) == seen, "the order never changes on re-read")
    }

    @Test func aReaderThatCheckpointedALaterPositionStillGetsTheEarlierPositionCommittedAfter() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let first = try database.connect()
        let second = try database.connect()
        // Transaction 1 takes its transaction id; transaction 2 inserts (the lower position) and stays open.
        _ = try await offload {
            try first.execute("BEGIN")
            return try first.query("SELECT pg_current_xact_id()").rows[0].uint64(0)
        }
        let lower = try await offload {
            try second.execute("BEGIN")
            return try EventStore.append(on: second, to: "two", expected: .noStream, events: [event("Second")])
        }
        let higher = try await offload {
            let result = try EventStore.append(on: first, to: "one", expected: .noStream, events: [event("First")])
            try first.execute("COMMIT")
            return result
        }
        #expect(lower.events[0].position < higher.events[0].position)

        // The reader sees transaction 1's event and checkpoints it, while transaction 2 is still open.
        var batch: [RecordedEvent] = []
        #expect(try await eventually { batch = try await store.readAll(after: .start); return !batch.isEmpty })
        #expect(batch.map(\.type) == ["First"])
        let checkpoint = try #require(batch.last).logPosition

        _ = try await offload { try second.execute("COMMIT") }

        // A reader checkpointing positions alone would never look back below the higher position:
        let byPositionAlone = try await database.column(
            "SELECT type FROM events WHERE position > $1", [higher.events[0].position]
        )
        #expect(byPositionAlone.isEmpty)
        // The (transaction id, position) checkpoint does get it.
        var rest: [RecordedEvent] = []
        #expect(try await eventually { rest = try await store.readAll(after: checkpoint); return !rest.isEmpty })
        #expect(rest.map(\.type) == ["Second"])
        #expect(rest[0].position == lower.events[0].position)
    }

    @Test func aRolledBackAppendLeavesAHoleThatReadersPass() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let before = try await store.append(to: "a", expected: .noStream, events: [event("Before")])
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await database.pool.withTransaction { connection in
                _ = try EventStore.append(on: connection, to: "b", expected: .noStream, events: [event("RolledBack")])
                throw Abandon()
            }
        }
        let after = try await store.append(to: "c", expected: .noStream, events: [event("After")])
        #expect(after.events[0].position > before.events[0].position + 1, "the rolled-back append took a position")

        var seen: [RecordedEvent] = []
        #expect(try await eventually { seen = try await store.readAll(after: .start); return seen.count == 2 })
        #expect(seen.map(\.type) == ["Before", "After"])
        let lag = try await store.lag(after: try #require(seen.last).logPosition)
        #expect(lag == LogLag(events: 0, seconds: 0))
    }

    @Test func lagCountsWhatAReaderHasNotReadYet() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        _ = try await store.append(to: "s", expected: .noStream, events: [event(), event(), event()])
        let lag = try await store.lag(after: .start)
        #expect(lag.events == 3)
        #expect(lag.seconds >= 0)
        var all: [RecordedEvent] = []
        #expect(try await eventually { all = try await store.readAll(after: .start); return all.count == 3 })
        #expect(try await store.lag(after: all[0].logPosition).events == 2)
        #expect(try await store.lag(after: all[2].logPosition).events == 0)
    }

    @Test func followersSeeEveryCommittedEventExactlyOnceWhileWritersRaceAndRollBack() async throws {
        let database = try await TestDatabase.make(maximumConnections: 12)
        let store = database.store
        let totalEvents = 5_000
        let writers = 8
        let streamsPerWriter = 25  // 200 streams in all
        let writersDone = Flag()

        enum Outcome: Sendable {
            case written([UUID])
            case followed([UUID])
        }
        struct Abandon: Error {}

        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var random = SeededGenerator(seed: UInt64(writer) &+ 1)
                    var versions = [Int64](repeating: 0, count: streamsPerWriter)
                    var written: [UUID] = []
                    let quota = totalEvents / writers
                    while written.count < quota {
                        let stream = Int.random(in: 0..<streamsPerWriter, using: &random)
                        let size = min(Int.random(in: 1...10, using: &random), quota - written.count)
                        let batch = (0..<size).map { _ in event("Written", #"{"writer":\#(writer)}"#) }
                        let expected: ExpectedVersion = versions[stream] == 0 ? .noStream : .exact(versions[stream])
                        let name = "w\(writer)-s\(stream)"
                        if Int.random(in: 0..<10, using: &random) == 0 {
                            await #expect(throws: Abandon.self) {
                                try await database.pool.withTransaction { connection in
                                    _ = try EventStore.append(on: connection, to: name, expected: expected, events: batch)
                                    throw Abandon()
                                }
                            }
                            continue
                        }
                        let result = try await store.append(to: name, expected: expected, events: batch)
                        versions[stream] = result.lastVersion
                        written += batch.map(\.id)
                    }
                    return .written(written)
                }
            }
            for follower in 0..<2 {
                group.addTask {
                    // A follower keeps what it has seen and a checkpoint "in the same transaction": on a restart
                    // it drops whatever it saw after its last checkpoint and reads on from there.
                    var random = SeededGenerator(seed: 1_000 + UInt64(follower))
                    var checkpoint = LogPosition.start
                    var seenAtCheckpoint = 0
                    var position = LogPosition.start
                    var seen: [UUID] = []
                    while true {
                        let batch = try await store.readAll(after: position, limit: Int.random(in: 1...200, using: &random))
                        seen += batch.map(\.id)
                        position = batch.last?.logPosition ?? position
                        if Int.random(in: 0..<4, using: &random) == 0 {
                            checkpoint = position
                            seenAtCheckpoint = seen.count
                        }
                        if Int.random(in: 0..<10, using: &random) == 0 {
                            seen.removeLast(seen.count - seenAtCheckpoint)
                            position = checkpoint
                            continue
                        }
                        if batch.isEmpty {
                            if writersDone.isSet, try await store.lag(after: position).events == 0 { break }
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    return .followed(seen)
                }
            }
            var outcomes: [Outcome] = []
            var writersLeft = writers
            for try await outcome in group {
                outcomes.append(outcome)
                if case .written = outcome {
                    writersLeft -= 1
                    if writersLeft == 0 { writersDone.set() }
                }
            }
            return outcomes
        }

        let committed = outcomes.flatMap { outcome -> [UUID] in
            if case .written(let ids) = outcome { return ids }
            return []
        }
        let followed = outcomes.compactMap { outcome -> [UUID]? in
            if case .followed(let ids) = outcome { return ids }
            return nil
        }
        #expect(committed.count == totalEvents)
        #expect(followed.count == 2)
        let logOrder = try await store.readAll(after: .start, limit: totalEvents * 2).map(\.id)
        #expect(logOrder.count == totalEvents)
        #expect(Set(logOrder) == Set(committed))
        for seen in followed {
            #expect(seen.count == totalEvents, "every committed event exactly once")
            #expect(Set(seen).count == seen.count, "no event twice")
            #expect(seen == logOrder, "one order, the same on every read")
        }
        #expect(try await store.read(stream: "w0-s0").map(\.version) == Array(1...Int64(try await store.version(of: "w0-s0"))))
    }
}

/// A flag set once, read from several tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

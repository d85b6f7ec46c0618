import Foundation
import HandoffCore
import HandoffJSON
import HandoffStore
import Postgres
import Timestamps

/// One onboarding as `handoff export` writes it and `handoff import` reads it: NDJSON, a header line, then the
/// definitions it is pinned to (the one it started with, and each it was upgraded to), then every event in version
/// order, each with its own id, time and metadata.
///
///     {"events":12,"exportedAt":"2026-12-02T09:00:00.000Z","formatVersion":1,"handoff":"export","onboarding":"demo"}
///     {"definition":{"contentHash":"…","file":"workflows/mail-send.yaml","source":"…","version":1,"workflowId":"mail-send"}}
///     {"event":{"data":{…},"id":"…","metadata":{"actor":"olivia"},"recordedAt":"…","schemaVersion":1,"streamId":"demo","type":"OnboardingStarted","version":1}}
///
/// Everything an import needs is in the file: another database (a laptop's) replays the onboarding exactly.
public struct OnboardingExport: Sendable, Equatable {
    public static let formatVersion = 1

    public var onboardingId: String
    public var exportedAt: Date
    public var definitions: [DefinitionRecord]
    public var events: [ImportedEvent]

    /// The export as NDJSON lines, each ending in a newline.
    public var ndjson: String {
        var text = ""
        var header = JSONWriter()
        header.beginObject()
        header.key("events"); header.integer(events.count)
        header.key("exportedAt"); header.string(Timestamp.format(exportedAt))
        header.key("formatVersion"); header.integer(Self.formatVersion)
        header.key("handoff"); header.string("export")
        header.key("onboarding"); header.string(onboardingId)
        header.endObject()
        text += header.text + "\n"
        for definition in definitions {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("definition")
            writer.beginObject()
            writer.key("contentHash"); writer.string(definition.contentHash)
            writer.key("file"); writer.string(definition.file)
            writer.key("source"); writer.string(definition.source)
            writer.key("version"); writer.integer(definition.version)
            writer.key("workflowId"); writer.string(definition.workflowId)
            writer.endObject()
            writer.endObject()
            text += writer.text + "\n"
        }
        for event in events {
            var writer = JSONWriter(capacity: 256 + event.dataText.utf8.count)
            writer.beginObject()
            writer.key("event")
            writer.beginObject()
            writer.key("data"); writer.raw(event.dataText)
            writer.key("id"); writer.string(event.id.uuidString.lowercased())
            writer.key("metadata"); writer.raw(event.metadataText)
            writer.key("recordedAt"); writer.string(Timestamp.format(event.recordedAt))
            writer.key("schemaVersion"); writer.integer(event.schemaVersion)
            writer.key("streamId"); writer.string(event.streamId)
            writer.key("type"); writer.string(event.type)
            writer.key("version"); writer.integer(event.version)
            writer.endObject()
            writer.endObject()
            text += writer.text + "\n"
        }
        return text
    }

    public init(onboardingId: String, exportedAt: Date, definitions: [DefinitionRecord], events: [ImportedEvent]) {
        self.onboardingId = onboardingId
        self.exportedAt = exportedAt
        self.definitions = definitions
        self.events = events
    }

    /// Reads an export. Throws `invalid_input` naming the line and what is wrong with it: not JSON, not an
    /// export's header, a definition whose source does not load or hash to its content hash, an event of
    /// another onboarding, out of version order, of an unknown type or whose data does not decode.
    public init(parsing data: Data) throws(EngineError) {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { $0 }
        while let last = lines.last, last.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }) {
            lines.removeLast()
        }
        guard !lines.isEmpty else { throw EngineError(.invalidInput, "the export is empty") }
        func object(_ index: Int) throws(EngineError) -> [String: Value] {
            let value: Value
            do {
                value = try Value(parsing: Data(lines[index]))
            } catch {
                throw EngineError(.invalidInput, "line \(index + 1): not JSON: \(error)")
            }
            guard case .object(let members) = value else {
                throw EngineError(.invalidInput, "line \(index + 1): not a JSON object")
            }
            return members
        }
        func problem(_ index: Int, _ message: String) -> EngineError {
            EngineError(.invalidInput, "line \(index + 1): \(message)")
        }

        let header = try object(0)
        guard header["handoff"]?.stringValue == "export" else {
            throw problem(0, "not the header of a Handoff export (`handoff export` writes {\"handoff\":\"export\",…} first)")
        }
        guard case .integer(let format)? = header["formatVersion"], format == Self.formatVersion else {
            throw problem(
                0, "formatVersion is \(header["formatVersion"]?.jsonText ?? "missing"); this Handoff reads "
                    + "\(Self.formatVersion)")
        }
        guard let onboardingId = header["onboarding"]?.stringValue, !onboardingId.isEmpty else {
            throw problem(0, "the header names no onboarding")
        }
        guard case .integer(let count)? = header["events"] else { throw problem(0, "the header has no event count") }
        let exportedAt = header["exportedAt"]?.stringValue.flatMap(Timestamp.parse) ?? .distantPast

        var definitions: [DefinitionRecord] = []
        var events: [ImportedEvent] = []
        var transactions: Set<String> = []
        var currentTransaction: String?
        for index in 1..<lines.count {
            let line = try object(index)
            if case .object(let fields)? = line["definition"], line.count == 1 {
                definitions.append(try Self.definition(fields, line: index + 1))
            } else if case .object(let fields)? = line["event"], line.count == 1 {
                let (event, transaction) = try Self.event(fields, line: index + 1)
                guard event.streamId == onboardingId else {
                    throw problem(index, "an event of '\(event.streamId)', not of '\(onboardingId)'")
                }
                guard event.version == Int64(events.count + 1) else {
                    throw problem(index, "event version \(event.version) where \(events.count + 1) comes next")
                }
                if let previous = events.last, event.recordedAt < previous.recordedAt {
                    throw problem(index, "recorded before the event above it")
                }
                if transaction != currentTransaction {
                    guard transactions.insert(transaction).inserted else {
                        throw problem(
                            index, "its sourceTransaction \(transaction) appended events further up, with another one's between")
                    }
                    currentTransaction = transaction
                }
                events.append(event)
            } else {
                throw problem(index, "neither {\"definition\": {…}} nor {\"event\": {…}}")
            }
        }
        guard !events.isEmpty else { throw EngineError(.invalidInput, "the export holds no events") }
        guard events.count == count else {
            throw EngineError(
                .invalidInput, "the header promises \(count) events and the file holds \(events.count) (cut short?)")
        }
        self.init(onboardingId: onboardingId, exportedAt: exportedAt, definitions: definitions, events: events)
    }

    private static func string(_ fields: [String: Value], _ name: String, line: Int) throws(EngineError) -> String {
        guard let value = fields[name]?.stringValue else {
            throw EngineError(.invalidInput, "line \(line): \(name) is missing or not a string")
        }
        return value
    }

    private static func integer(_ fields: [String: Value], _ name: String, line: Int) throws(EngineError) -> Int {
        guard case .integer(let value)? = fields[name] else {
            throw EngineError(.invalidInput, "line \(line): \(name) is missing or not an integer")
        }
        return value
    }

    /// A definition line's record, checked: its source loads and hashes to its content hash.
    private static func definition(_ fields: [String: Value], line: Int) throws(EngineError) -> DefinitionRecord {
        let record = DefinitionRecord(
            contentHash: try string(fields, "contentHash", line: line),
            workflowId: try string(fields, "workflowId", line: line), version: try integer(fields, "version", line: line),
            file: try string(fields, "file", line: line), source: try string(fields, "source", line: line))
        let definition: WorkflowDefinition
        do {
            definition = try Folding.definition(record, .invalidInput)
        } catch {
            throw EngineError(.invalidInput, "line \(line): \(error.message)")
        }
        guard definition.id == record.workflowId, definition.version == record.version else {
            throw EngineError(
                .invalidInput,
                "line \(line): the source defines \(definition.id) v\(definition.version), not "
                    + "\(record.workflowId) v\(record.version)")
        }
        return record
    }

    /// An event line's event, checked: a known type whose data decodes; and its metadata's `sourceTransaction`.
    private static func event(_ fields: [String: Value], line: Int) throws(EngineError) -> (ImportedEvent, String) {
        let idText = try string(fields, "id", line: line)
        guard let id = UUID(uuidString: idText) else {
            throw EngineError(.invalidInput, "line \(line): id is not a UUID: \(idText)")
        }
        let recordedText = try string(fields, "recordedAt", line: line)
        guard let recordedAt = Timestamp.parse(recordedText) else {
            throw EngineError(.invalidInput, "line \(line): recordedAt is not an ISO 8601 time: \(recordedText)")
        }
        guard case .object(let data)? = fields["data"] else {
            throw EngineError(.invalidInput, "line \(line): data is missing or not an object")
        }
        guard case .object(let metadata)? = fields["metadata"],
            metadata.values.allSatisfy({ $0.stringValue != nil })
        else {
            throw EngineError(.invalidInput, "line \(line): metadata is missing or not an object of strings")
        }
        guard let transaction = metadata["sourceTransaction"]?.stringValue, !transaction.isEmpty else {
            throw EngineError(
                .invalidInput,
                "line \(line): metadata has no sourceTransaction (the transaction that appended the event, which "
                    + "`handoff export` writes: events of one command share it)")
        }
        let event = ImportedEvent(
            id: id, streamId: try string(fields, "streamId", line: line),
            version: Int64(try integer(fields, "version", line: line)), type: try string(fields, "type", line: line),
            schemaVersion: try integer(fields, "schemaVersion", line: line), dataText: Value.object(data).jsonText,
            metadataText: Value.object(metadata).jsonText, recordedAt: recordedAt)
        guard OnboardingEvent.typeNames.contains(event.type) else {
            throw EngineError(.invalidInput, "line \(line): no event type '\(event.type)'")
        }
        do {
            _ = try OnboardingEvent.decode(type: event.type, schemaVersion: event.schemaVersion, json: event.dataText)
        } catch {
            throw EngineError(.invalidInput, "line \(line): the \(event.type) event does not decode: \(error)")
        }
        return (event, transaction)
    }
}

extension Engine {
    /// One onboarding with the definition it is pinned to, for `import` into another database. Throws
    /// `not_found`.
    public func export(_ id: String) async throws(EngineError) -> OnboardingExport {
        let now = Timestamp.normalized(clock())
        return try await read { connection in
            try connection.transaction(isolation: .repeatableRead) { connection in
                let events = try EventStore.read(on: connection, stream: id)
                guard !events.isEmpty else { throw EngineError(.notFound, "no onboarding '\(id)'") }
                let decoded = try Folding.decode(events)
                guard case .started = decoded.first else {
                    throw EngineError(.internal, "stream '\(id)' does not begin with OnboardingStarted")
                }
                // The definition it started with, and each it was upgraded to.
                var pinned: [DefinitionRecord] = []
                for contentHash in Folding.pinnedHashes(decoded) where !pinned.contains(where: { $0.contentHash == contentHash }) {
                    guard let definition = try DefinitionStore.load(on: connection, contentHash: contentHash) else {
                        throw EngineError(.internal, "the definition with content hash \(contentHash) is not stored")
                    }
                    pinned.append(definition)
                }
                // Each event's metadata names the transaction that appended it (the one it was appended by where
                // it came from, if it was imported itself): an import keeps which events one command appended.
                let exported = try events.map { event in
                    var metadata = event.metadata
                    metadata.sourceTransaction = metadata.sourceTransaction ?? String(event.transactionId)
                    return ImportedEvent(
                        id: event.id, streamId: event.streamId, version: event.version, type: event.type,
                        schemaVersion: event.schemaVersion, dataText: try Value(parsing: event.dataText).jsonText,
                        metadataText: metadata.jsonText, recordedAt: event.recordedAt)
                }
                return OnboardingExport(onboardingId: id, exportedAt: now, definitions: pinned, events: exported)
            }
        }
    }

    /// Stores an exported onboarding in this database: its definition (unless stored), every event as it was,
    /// and its projection rows, in one transaction; no notification is sent for history that happened elsewhere.
    /// The onboarding is live here afterwards (its tasks can be claimed, its timers fire).
    ///
    /// Throws `invalid_input` when its events do not fold through the definition (nothing is written),
    /// `already_exists` when this database has an onboarding with its id or one of its event ids.
    public func importOnboarding(_ export: OnboardingExport) async throws(EngineError) -> OnboardingView {
        let events = export.events
        let decoded: [OnboardingEvent]
        do {
            decoded = try Folding.decode(events)
        } catch {
            throw EngineError(.invalidInput, "the events do not decode: \(EngineError.from(error).message)")
        }
        guard case .started(let started)? = decoded.first else {
            throw EngineError(.invalidInput, "the first event is \(events.first?.type ?? "missing"), not OnboardingStarted")
        }
        guard started.onboardingId == export.onboardingId else {
            throw EngineError(
                .invalidInput, "the events start onboarding '\(started.onboardingId)', not '\(export.onboardingId)'")
        }
        let definitions = definitions
        do {
            return try await pool.withTransaction { connection in
                // The definition it started with and each it was upgraded to: carried in the file, else stored here.
                var records: [DefinitionRecord] = []
                var interpreters: [String: Interpreter] = [:]
                for contentHash in Folding.pinnedHashes(decoded) where interpreters[contentHash] == nil {
                    let record: DefinitionRecord
                    if let carried = export.definitions.first(where: { $0.contentHash == contentHash }) {
                        record = carried
                    } else if let stored = try DefinitionStore.load(on: connection, contentHash: contentHash) {
                        record = stored
                    } else {
                        throw EngineError(
                            .invalidInput,
                            "the export does not carry the definition its events pin (content hash \(contentHash)) "
                                + "and this database does not have it")
                    }
                    records.append(record)
                    interpreters[contentHash] = Interpreter(definition: try Folding.definition(record, .invalidInput))
                }
                let folded: FoldedOnboarding
                do {
                    folded = try Folding.fold(events, decoded: decoded) { contentHash in
                        guard let interpreter = interpreters[contentHash] else {
                            throw EngineError(.invalidInput, "the definition \(contentHash) is not in the export")
                        }
                        return interpreter
                    }.folded
                } catch {
                    throw EngineError(
                        .invalidInput, "the events do not fold through their definition: \(EngineError.from(error).message)")
                }
                if let problem = Self.invariantProblems(folded.state).first {
                    throw EngineError(.invalidInput, "the events fold to a state that cannot be: \(problem)")
                }
                for record in records {
                    try DefinitionStore.store(on: connection, record)
                }
                guard try EventStore.importStream(on: connection, events) else {
                    throw EngineError(
                        .alreadyExists,
                        "this database has an onboarding '\(export.onboardingId)' already; import into one without it")
                }
                try Projections.write(
                    on: connection, onboarding: Rows.record(folded),
                    tasks: folded.state.tasks.map { Rows.record($0, onboardingId: folded.state.onboardingId) },
                    command: nil)
                for interpreter in interpreters.values { definitions.remember(interpreter) }
                return Rows.view(folded)
            }
        } catch {
            if let postgres = error as? PostgresError, postgres.sqlState == "23505" {
                throw EngineError(
                    .alreadyExists,
                    "an event id of the export is stored already in this database (was it imported under another id?)",
                    cause: postgres)
            }
            throw EngineError.from(error)
        }
    }
}

import Foundation
import HandoffCore
import HandoffJSON
import HandoffStore
import Postgres
import Timestamps

/// An onboarding as readers see it: the contract's onboarding object.
public struct OnboardingView: Codable, Sendable, Equatable {
    /// An open or claimed task, in brief.
    public struct TaskSummary: Codable, Sendable, Equatable {
        public var id: String
        public var step: String
        public var path: String
        public var role: String
        public var title: String
        public var state: String
        @Nullable public var assignee: String?

        /// The same object as its `Encodable` form writes, keys sorted, for projection rows.
        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.key("assignee"); writer.string(assignee)
            writer.key("id"); writer.string(id)
            writer.key("path"); writer.string(path)
            writer.key("role"); writer.string(role)
            writer.key("state"); writer.string(state)
            writer.key("step"); writer.string(step)
            writer.key("title"); writer.string(title)
            writer.endObject()
        }
    }

    /// A timer the onboarding waits for.
    public struct TimerSummary: Codable, Sendable, Equatable {
        public var id: String
        public var path: String
        public var dueAt: Date
        public var purpose: String

        /// The same object as its `Encodable` form writes, keys sorted.
        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.key("dueAt"); writer.string(Timestamp.format(dueAt))
            writer.key("id"); writer.string(id)
            writer.key("path"); writer.string(path)
            writer.key("purpose"); writer.string(purpose)
            writer.endObject()
        }
    }

    public var id: String
    public var workflow: String
    public var workflowVersion: Int
    /// The pinned definition's content hash.
    public var contentHash: String
    /// `active`, `completed`, `cancelled` or `failed`.
    public var state: String
    /// Why it was cancelled or failed.
    @Nullable public var reason: String?
    public var currentSteps: [String]
    public var openTasks: [TaskSummary]
    public var variables: [String: Value]
    public var inputs: [String: Value]
    public var timers: [TimerSummary]
    /// Signals that waiting steps expect.
    public var awaitedSignals: [String]
    public var startedAt: Date
    public var updatedAt: Date
    /// The stream's version: the number of events.
    public var version: Int64
}

/// A task as readers see it: the contract's task object.
public struct TaskView: Codable, Sendable, Equatable {
    /// An output the task asks for; `default` is what earlier answers give it, else null.
    public struct Output: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var required: Bool
        public var title: String?
        public var values: [String]?
        public var pattern: String?
        @Nullable public var `default`: Value?

        init(_ field: OutputField) {
            name = field.name
            type = field.type.rawValue
            required = field.required
            title = field.title
            values = field.values
            pattern = field.pattern
            self.default = field.default
        }
    }

    public var id: String
    public var onboardingId: String
    public var step: String
    /// Where the step ran: `standard-consent/read-upn` inside the block that `standard-consent` ran.
    public var path: String
    public var role: String
    public var title: String
    /// Markdown.
    public var instructions: String
    /// `open`, `claimed`, `completed` or `cancelled`.
    public var state: String
    @Nullable public var assignee: String?
    public var checklist: [ChecklistItem]
    public var outputs: [Output]
    @Nullable public var dueAt: Date?
    public var createdAt: Date
    /// Who completed it, the outputs it was completed with and the ticked items.
    @Nullable public var completedBy: String?
    @Nullable public var result: [String: Value]?
    @Nullable public var checked: [String]?
    /// Roles an escalation added: they may claim it too.
    public var escalatedRoles: [String]
}

/// One stored event, for `history`.
public struct EventView: Codable, Sendable, Equatable {
    public var position: Int64
    public var streamId: String
    public var version: Int64
    public var type: String
    public var recordedAt: Date
    /// Who caused it: the caller of the command that appended it.
    @Nullable public var actor: String?
    @Nullable public var commandId: String?
    public var data: Value
}

/// Which events of a history to show: each set given narrows it (a type or actor among those listed, recorded at
/// or after `since` and at or before `until`); the empty filter keeps every event.
public struct HistoryFilter: Sendable, Equatable {
    public var types: Set<String>
    public var actors: Set<String>
    public var since: Date?
    public var until: Date?

    public init(types: Set<String> = [], actors: Set<String> = [], since: Date? = nil, until: Date? = nil) {
        self.types = types
        self.actors = actors
        self.since = since
        self.until = until
    }

    /// Throws `invalid_input` for a type no event has and for a range that ends before it begins.
    func check() throws(EngineError) {
        let unknown = types.subtracting(OnboardingEvent.typeNames).sorted()
        if !unknown.isEmpty {
            throw EngineError(
                .invalidInput,
                "no event type \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the types are "
                    + OnboardingEvent.typeNames.joined(separator: ", "))
        }
        if let since, let until, until < since {
            throw EngineError(
                .invalidInput, "the time range ends (\(Timestamp.format(until))) before it begins (\(Timestamp.format(since)))")
        }
    }

    func keeps(_ event: RecordedEvent) -> Bool {
        if !types.isEmpty, !types.contains(event.type) { return false }
        if !actors.isEmpty, !actors.contains(event.metadata.actor ?? "") { return false }
        let recorded = Timestamp.normalized(event.recordedAt)
        if let since, recorded < since { return false }
        if let until, recorded > until { return false }
        return true
    }
}

/// An onboarding and its tasks as they were at one version.
public struct ReplayView: Codable, Sendable, Equatable {
    public var onboarding: OnboardingView
    public var tasks: [TaskView]
    public var version: Int64

    public init(onboarding: OnboardingView, tasks: [TaskView], version: Int64) {
        self.onboarding = onboarding
        self.tasks = tasks
        self.version = version
    }
}

/// One page of a listing; pass `next` as `after` for the following page (nil when this is the last).
public struct Page<Item: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var items: [Item]
    @Nullable public var next: String?
}

/// A page as list commands and routes print it: the items under `key` (`onboardings`, `tasks`) and `next`, the
/// cursor for `after`, written as null on the last page so scripts always find the field.
public struct Listing<Item: Encodable & Sendable>: Encodable, Sendable {
    public let key: String
    public let items: [Item]
    public let next: String?

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(items, forKey: Key(key))
        try container.encode(next, forKey: Key("next"))
    }
}

extension Page {
    /// This page with its items under `key`.
    public func listing(_ key: String) -> Listing<Item> {
        Listing(key: key, items: items, next: next)
    }
}

/// One projection's position and lag, for `projections status`.
public struct ProjectionStatusView: Codable, Sendable, Equatable {
    public var name: String
    /// `inline` (written with every append) or `async` (following the log from a checkpoint).
    public var kind: String
    public var position: Int64
    public var lagEvents: Int64
    public var lagSeconds: Double
    /// `live`; for an async projection `idle` while no process follows it, and `rebuilding` for the next
    /// generation a rebuild is writing.
    public var state: String
    public var rebuiltAt: Date?
    /// The generation readers see (async projections; a rebuild writes the next one).
    @Nullable public var generation: Int? = nil
    /// Events applied to this generation so far (async projections).
    @Nullable public var events: Int64? = nil
    /// The process following it and until when its lease runs (async projections).
    @Nullable public var holder: String? = nil
    @Nullable public var leaseUntil: Date? = nil
}

/// What a rebuild did.
public struct RebuildReport: Codable, Sendable, Equatable {
    public var projections: [String]
    public var streams: Int
    public var events: Int64
    public var onboardings: Int
    public var tasks: Int
    /// Streams that could not be folded (unknown definition, unreadable events), with the reason.
    public var problems: [String]
}

/// What `verify` found: every stream replayed through its pinned definition.
public struct VerifyReport: Codable, Sendable, Equatable {
    public var streams: Int
    public var events: Int64
    /// Commands re-decided from the history and compared with the events they appended.
    public var decisions: Int
    /// Each problem names its onboarding; empty when everything agrees.
    public var problems: [String]

    public var ok: Bool { problems.isEmpty }
}

/// JSON as the engine stores it (answers in the command log, projection columns): one encoder and one decoder for
/// the process, with times as `Timestamp` writes them (making them per row was most of reading a listing).
enum StoredJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .timestamp
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .timestamp
        return decoder
    }()
}

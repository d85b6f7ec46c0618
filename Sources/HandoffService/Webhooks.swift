import Crypto
import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Timestamps

/// A webhook subscription; `secret` only in the answer to `addWebhook` (listings never show it again).
public struct WebhookView: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    @Nullable public var secret: String?
    /// Empty: every workflow (and so on for roles and events).
    public var workflows: [String]
    public var roles: [String]
    public var events: [String]
    public var createdAt: Date
}

/// One notification for one target, as `notifications list` shows it.
public struct NotificationView: Codable, Sendable, Equatable {
    /// The `webhook-id` of every attempt.
    public var id: String
    @Nullable public var subscriptionId: String?
    /// The endpoint an automated step calls, for calls.
    @Nullable public var endpoint: String?
    public var onboardingId: String
    /// `task.opened`, …, or `call`.
    public var type: String
    /// `pending`, `delivered` or `failed` (dead-lettered: `notifications resend` sends it again).
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Date
    @Nullable public var lastStatus: Int?
    @Nullable public var lastError: String?
    public var createdAt: Date
    @Nullable public var deliveredAt: Date?

    init(_ record: NotificationRecord) {
        id = record.id
        subscriptionId = record.subscriptionId
        endpoint = record.endpoint
        onboardingId = record.onboardingId
        type = record.kind
        state = record.state
        attempts = record.attempts
        nextAttemptAt = Timestamp.normalized(record.nextAttemptAt)
        lastStatus = record.lastStatus
        lastError = record.lastError
        createdAt = Timestamp.normalized(record.createdAt)
        deliveredAt = record.deliveredAt.map(Timestamp.normalized)
    }
}

/// How notifications are delivered: attempts, backoff and each attempt's timeout.
public struct DeliverySettings: Sendable, Equatable {
    /// Attempts before a notification is dead-lettered (or an automated step's call fails).
    public var attempts: Int
    /// The delay before the first retry, in seconds; each later one doubles it, up to `maximumDelay`, with jitter.
    public var retryDelay: Double
    public var maximumDelay: Double
    /// How long one attempt may take, in seconds.
    public var timeout: Double

    public init(attempts: Int = 8, retryDelay: Double = 1, maximumDelay: Double = 3600, timeout: Double = 10) {
        self.attempts = attempts
        self.retryDelay = retryDelay
        self.maximumDelay = maximumDelay
        self.timeout = timeout
    }

    /// `HANDOFF_DELIVERY_ATTEMPTS` (1 to 100, default 8), `HANDOFF_DELIVERY_RETRY_SECONDS` (the first retry's
    /// delay, 0.01 to 3600, default 1), `HANDOFF_DELIVERY_TIMEOUT_SECONDS` (0.1 to 300, default 10).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Self {
        func number(_ name: String, _ range: ClosedRange<Double>, _ fallback: Double) -> Double {
            guard let text = environment[name], let value = Double(text), range.contains(value) else { return fallback }
            return value
        }
        return DeliverySettings(
            attempts: Int(number("HANDOFF_DELIVERY_ATTEMPTS", 1...100, 8)),
            retryDelay: number("HANDOFF_DELIVERY_RETRY_SECONDS", 0.01...3600, 1),
            timeout: number("HANDOFF_DELIVERY_TIMEOUT_SECONDS", 0.1...300, 10))
    }

    /// The delay before the attempt after `attempt` (1 for the first retry): exponential, capped, and jittered
    /// between half and all of it so that receivers that failed together are not retried together; nil when
    /// `attempt` was the last.
    public func retryDelay(after attempt: Int) -> Double? {
        guard attempt < attempts else { return nil }
        let full = min(maximumDelay, retryDelay * pow(2, Double(min(attempt - 1, 40))))
        return full * Double.random(in: 0.5...1)
    }

    /// How long a dispatcher holds a notification while it tries it: the attempt's timeout and a margin, after
    /// which another dispatcher (or this one, restarted) may try it again.
    public var leaseSeconds: Double { timeout + 5 }
}

/// The Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's
/// key (the base64 after `whsec_`).
public enum WebhookSignature {
    public static let secretPrefix = "whsec_"

    /// The key of a `whsec_…` secret; nil when it is not one (or its key is shorter than 16 or longer than 64 bytes).
    public static func key(_ secret: String) -> Data? {
        guard secret.hasPrefix(secretPrefix), let key = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
            (16...64).contains(key.count)
        else { return nil }
        return key
    }

    public static func sign(id: String, timestamp: Int, body: Data, secret: String) -> String? {
        guard let key = key(secret) else { return nil }
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// A fresh secret of 32 random bytes.
    public static func makeSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return secretPrefix + Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
    }
}

extension Engine {
    /// Subscribes `url` to notifications, narrowed by workflows, roles and kinds (none: everything), signed with
    /// `secret` (made when nil). Throws `invalid_input` for a URL that is not http or https, a secret that is not
    /// `whsec_<base64>`, or a workflow, role or kind that no workflow has; nothing is written then.
    public func addWebhook(
        url: String, secret: String? = nil, workflows: [String] = [], roles: [String] = [], kinds: [String] = []
    ) async throws(EngineError) -> WebhookView {
        guard url.utf8.count <= 2000, let components = URLComponents(string: url),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty, components.user == nil, components.password == nil
        else {
            throw EngineError(.invalidInput, "a webhook URL must be an http or https URL with a host, not '\(url.prefix(200))'")
        }
        let secret = secret ?? WebhookSignature.makeSecret()
        guard WebhookSignature.key(secret) != nil else {
            throw EngineError(
                .invalidInput, "a webhook secret must be whsec_ and the base64 of 16 to 64 random bytes")
        }
        let (definitions, _) = try self.workflows.load()
        let knownWorkflows = Set(definitions.map(\.id))
        let knownRoles = Set(definitions.flatMap(\.roles))
        for workflow in workflows where !knownWorkflows.contains(workflow) {
            throw EngineError(
                .invalidInput, "no workflow '\(workflow)'; the workflows are \(knownWorkflows.sorted().joined(separator: ", "))")
        }
        for role in roles where !knownRoles.contains(role) {
            throw EngineError(
                .invalidInput, "no workflow has role '\(role)'; the roles are \(knownRoles.sorted().joined(separator: ", "))")
        }
        for kind in kinds where !NotificationKind.names.contains(kind) {
            throw EngineError(
                .invalidInput, "no notification kind '\(kind)'; the kinds are \(NotificationKind.names.joined(separator: ", "))")
        }
        var generator = SystemRandomNumberGenerator()
        let id = "wh_" + String((0..<16).map { _ in "0123456789abcdefghijklmnopqrstuvwxyz".randomElement(using: &generator)! })
        let record = SubscriptionRecord(
            id: id, url: url, secret: secret, workflows: Self.unique(workflows), roles: Self.unique(roles),
            kinds: Self.unique(kinds), createdAt: Date())
        let stored = try await read { connection in try Outbox.insert(on: connection, record) }
        var view = Self.view(stored)
        view.secret = stored.secret
        return view
    }

    /// Every subscription, oldest first, without secrets.
    public func webhooks() async throws(EngineError) -> [WebhookView] {
        try await read { connection in try Outbox.subscriptions(on: connection) }.map(Self.view)
    }

    /// Removes a subscription; its notifications that were not delivered yet go with it. Throws `not_found`.
    public func removeWebhook(id: String) async throws(EngineError) {
        guard try await read({ connection in try Outbox.removeSubscription(on: connection, id: id) }) else {
            throw EngineError(.notFound, "no webhook '\(id)'")
        }
    }

    /// Notifications in the order they were written; only dead-lettered ones with `failed`.
    public func notifications(failed: Bool = false, onboardingId: String? = nil, limit: Int = 100, after: String? = nil)
        async throws(EngineError) -> Page<NotificationView>
    {
        guard (1...1000).contains(limit) else { throw EngineError(.invalidInput, "limit must be 1 to 1000") }
        var afterSeq: Int64?
        if let after {
            guard let seq = Int64(after), seq >= 0 else {
                throw EngineError(.invalidInput, "after is the 'next' of an earlier page, not '\(after.prefix(100))'")
            }
            afterSeq = seq
        }
        let cursor = afterSeq
        let records = try await read { connection in
            try Outbox.notifications(
                on: connection, failedOnly: failed, onboardingId: onboardingId, limit: limit + 1, afterSeq: cursor)
        }
        let items = records.prefix(limit).map(NotificationView.init)
        return Page(items: items, next: records.count > limit ? records[limit - 1].seq.description : nil)
    }

    /// One notification. Throws `not_found`.
    public func notification(_ id: String) async throws(EngineError) -> NotificationView {
        guard let record = try await read({ connection in try Outbox.notification(on: connection, id: id) }) else {
            throw EngineError(.notFound, "no notification '\(id)'")
        }
        return NotificationView(record)
    }

    /// Sends a dead-lettered notification again (same id, a fresh round of attempts). Throws `not_found` when
    /// there is no notification with that id, `invalid_input` when it is not dead-lettered.
    public func resendNotification(_ id: String) async throws(EngineError) -> NotificationView {
        let current = try await notification(id)
        guard current.state == "failed" else {
            throw EngineError(.invalidInput, "notification '\(id)' is \(current.state); only a failed one is sent again")
        }
        guard try await read({ connection in try Outbox.resend(on: connection, id: id) }) else {
            throw EngineError(.invalidInput, "notification '\(id)' changed meanwhile; look again")
        }
        return try await notification(id)
    }

    // MARK: The dispatcher's side

    /// Leases up to `limit` notifications due for an attempt (see `Outbox.lease`).
    public func leaseNotifications(limit: Int, settings: DeliverySettings) async throws(EngineError) -> [LeasedNotification] {
        try await read { connection in try Outbox.lease(on: connection, limit: limit, lease: settings.leaseSeconds) }
    }

    /// Records delivered attempts and gives back leased notifications that were not attempted, in one
    /// transaction (see `Outbox.settle`).
    public func settleDeliveries(delivered: [(id: String, status: Int)], untried: [String]) async throws(EngineError) {
        try await read { connection in try Outbox.settle(on: connection, delivered: delivered, untried: untried) }
    }

    /// Records a failed attempt: a retry after the backoff, or, after the last attempt, the dead letter (and for
    /// an automated step's call, the step's failure). Returns whether it was the last.
    @discardableResult
    public func recordFailure(
        _ notification: LeasedNotification, status: Int?, error message: String, settings: DeliverySettings,
        retry: Bool = true
    ) async throws(EngineError) -> Bool {
        let delay = retry ? settings.retryDelay(after: notification.attempt) : nil
        if delay == nil, notification.kind == "call" {
            do {
                _ = try await failCall(
                    onboardingId: notification.onboardingId, callId: notification.id, reason: message,
                    attempts: notification.attempt)
            } catch {
                // Answered, withdrawn or ended meanwhile: nothing waits on the call any more.
                guard error.code == .notFound || error.code == .onboardingNotActive else { throw error }
            }
        }
        try await read { connection in
            _ = try Outbox.failed(on: connection, id: notification.id, status: status, error: message, retryAfter: delay)
        }
        return delay == nil
    }

    // MARK: Automated steps

    /// Gives an automated step the endpoint's answer; the onboarding goes on with it as the step's outputs.
    /// Idempotent per call (a repeated answer returns the first result). Throws `invalid_outputs` when the answer
    /// does not fit the step's outputs, `not_found` when no step waits on the call.
    public func answerCall(onboardingId: String, callId: String, outputs: [String: Value], attempts: Int)
        async throws(EngineError) -> OnboardingView
    {
        try await settleCall(
            onboardingId, kind: "call-answer", commandId: "answer-" + callId,
            request: CallAnswerRequest(callId: callId, outputs: outputs),
            command: .answerCall(callId: callId, outputs: outputs, attempts: attempts))
    }

    /// Records that an automated step's call failed for good; the step's failure branch runs, or the onboarding
    /// fails with the reason.
    public func failCall(onboardingId: String, callId: String, reason: String, attempts: Int)
        async throws(EngineError) -> OnboardingView
    {
        try await settleCall(
            onboardingId, kind: "call-failure", commandId: "failure-" + callId,
            request: CallAnswerRequest(callId: callId, outputs: ["reason": .string(reason)]),
            command: .failCall(callId: callId, reason: reason, attempts: attempts))
    }

    /// One outcome of a call, as the dispatcher's command on the onboarding, idempotent by its command id.
    private func settleCall(
        _ onboardingId: String, kind: String, commandId: String, request: CallAnswerRequest, command: OnboardingCommand
    ) async throws(EngineError) -> OnboardingView {
        try await perform(kind: kind, commandId: commandId, request: request, stream: onboardingId) { context in
            let loaded = try await context.load(onboardingId)
            let applied = try context.apply(loaded, command: command, actor: Self.dispatcherActor)
            return (Rows.view(applied.folded), applied)
        }
    }

    /// The actor that automated steps' answers record.
    public static let dispatcherActor = "dispatcher"

    static func view(_ record: SubscriptionRecord) -> WebhookView {
        WebhookView(
            id: record.id, url: record.url, secret: nil, workflows: record.workflows, roles: record.roles,
            events: record.kinds, createdAt: Timestamp.normalized(record.createdAt))
    }

    static func unique(_ values: [String]) -> [String] {
        values.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }
}

struct CallAnswerRequest: Encodable {
    var callId: String
    var outputs: [String: Value]
}

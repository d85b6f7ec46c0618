import HandoffCore

// The requests of the write commands, as fingerprinted for idempotency: a command id used again must come
// with the same request.

struct StartRequest: Encodable {
    var workflow: String
    var inputs: [String: Value]
    var id: String?
    var actor: String
}

struct TaskRequest: Encodable {
    var taskId: String?
    var user: String
    var roles: [String]
}

struct CompleteRequest: Encodable {
    var taskId: String
    var user: String
    var outputs: [String: Value]
    var checklist: [String]
}

struct SignalRequest: Encodable {
    var onboardingId: String
    var name: String
    var data: Value
    var actor: String
}

struct CancelRequest: Encodable {
    var onboardingId: String
    var user: String
    var reason: String
}

struct UpgradeRequest: Encodable {
    var onboardingId: String
    var version: Int
    var user: String
}

struct TimerRequest: Encodable {
    var onboardingId: String
    var timerId: String
}

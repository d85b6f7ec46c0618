import HandoffCore

/// A workflow in brief, as `workflows list` and `GET /workflows` show it.
public struct WorkflowSummary: Encodable, Sendable {
    public var id: String
    public var title: String
    public var version: Int
    public var contentHash: String
    public var file: String
    public var roles: [String]
    public var starters: [String]

    public init(_ definition: WorkflowDefinition) {
        id = definition.id
        title = definition.title
        version = definition.version
        contentHash = definition.contentHash
        file = definition.file
        roles = definition.roles
        starters = definition.starters
    }
}

/// A workflow's inputs and steps, as `workflows show` and `GET /workflows/{id}` show them.
public struct WorkflowDetail: Encodable, Sendable {
    public struct Input: Encodable, Sendable {
        public var name: String
        public var type: String
        public var required: Bool
        public var values: [String]?
        public var title: String?
    }

    public struct StepLine: Encodable, Sendable {
        public var id: String
        public var kind: String
        public var title: String?
        /// The block or parallel branch the step belongs to.
        public var within: String?
        public var next: String?
        public var detail: String
    }

    public var id: String
    public var title: String
    public var version: Int
    public var description: String?
    public var contentHash: String
    public var file: String
    public var roles: [String]
    public var starters: [String]
    public var inputs: [Input]
    public var start: String
    public var steps: [StepLine]
    public var blocks: [String]
    public var variables: [String]

    public init(_ definition: WorkflowDefinition) {
        id = definition.id
        title = definition.title
        version = definition.version
        description = definition.description
        contentHash = definition.contentHash
        file = definition.file
        roles = definition.roles
        starters = definition.starters
        inputs = definition.inputs.map {
            Input(
                name: $0.name, type: $0.type.rawValue, required: $0.required,
                values: $0.type == .enum ? $0.values : nil, title: $0.title)
        }
        start = definition.start
        blocks = definition.blockOrder
        variables = definition.variableNames
        steps = definition.stepOrder.compactMap { id in
            guard let step = definition.steps[id] else { return nil }
            var within: [String] = []
            if let block = step.placement.block { within.append("block \(block)") }
            if let parallel = step.placement.parallel, let branch = step.placement.branch {
                within.append("\(parallel)/\(branch)")
            }
            let detail: String
            switch step.kind {
            case .task(let task): detail = "\(task.role): \(task.title.source)"
            case .decision(let decision):
                detail =
                    (decision.branches.map { "\($0.condition.source) → \($0.next)" }
                    + (decision.otherwise.map { ["otherwise → \($0)"] } ?? [])).joined(separator: "; ")
            case .parallel(let parallel): detail = "branches " + parallel.branches.map(\.name).joined(separator: ", ")
            case .wait(let wait): detail = "signal \(wait.signal)" + (wait.timeout.map { ", timeout \($0)" } ?? "")
            case .timer(let timer):
                switch timer {
                case .duration(let span): detail = "for \(span)"
                case .until(let source): detail = "until \(source)"
                }
            case .block(let call): detail = "runs \(call.block)"
            case .set(let assignments): detail = assignments.map { "\($0.name) = \($0.value)" }.joined(separator: ", ")
            case .notify(let notify): detail = "tells \(notify.role): \(notify.message.source)"
            case .call(let call):
                detail = "calls \(call.endpoint)" + (call.onFailure.map { ", on failure \($0)" } ?? "")
            case .end(let end): detail = end.outcome.rawValue
            }
            let condition = step.condition.map { " (if \($0.source))" } ?? ""
            return StepLine(
                id: id, kind: step.kindName, title: step.title,
                within: within.isEmpty ? nil : within.joined(separator: ", "),
                next: step.next, detail: detail + condition)
        }
    }
}

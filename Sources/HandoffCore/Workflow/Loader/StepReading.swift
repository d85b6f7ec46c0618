import Foundation
import Yams
import Timestamps

// Reading the model from YAML: roles, fields, and each kind of step.
extension DefinitionBuilder {
    // MARK: Roles and fields

    mutating func readRoles(_ node: Node) {
        guard let items = list(node, what: "'roles'") else { return }
        if items.isEmpty {
            error("'roles' is empty: name at least one role", at: location(node))
        }
        for item in items {
            guard let name = string(item, what: "a role") else { continue }
            if !Self.isName(name) {
                error("role '\(name)' may only use letters, digits, '-' and '_'", at: location(item))
            } else if roles.contains(name) {
                error("role '\(name)' is listed twice", at: location(item))
            } else {
                roles.append(name)
            }
        }
    }

    /// Reads `starters`: role names, each once (they need not be task roles: `admin` or a role of the API's tokens).
    mutating func readStarters(_ node: Node) -> [String] {
        guard let items = list(node, what: "'starters'") else { return [] }
        var starters: [String] = []
        for item in items {
            guard let name = string(item, what: "a starter role") else { continue }
            if !Self.isName(name) {
                error("starter role '\(name)' may only use letters, digits, '-' and '_'", at: location(item))
            } else if starters.contains(name) {
                error("starter role '\(name)' is listed twice", at: location(item))
            } else {
                starters.append(name)
            }
        }
        return starters
    }

    /// Reads a mapping of field name → spec (inputs, outputs, params).
    mutating func readFields(_ node: Node, owner: String, allowDefaultTemplate: Bool, scope: Scope) -> [FieldSpec] {
        guard let fieldEntries = entries(node, what: "the \(owner)s") else { return [] }
        var result: [FieldSpec] = []
        for entry in fieldEntries {
            let name = entry.key
            let context = "\(owner) '\(name)'"
            if !Self.isName(name) {
                error("\(context): names may only use letters, digits, '-' and '_'", at: entry.keyLocation)
            }
            var typeName: String?
            var spec = FieldSpec(
                name: name, type: .string, required: false, values: [], location: entry.keyLocation)
            var specEntries: [Entry] = []
            if let scalar = entry.value.scalar, scalar.tagName != .null {
                typeName = scalar.string
            } else if let mapped = entries(entry.value, what: context) {
                specEntries = mapped
                checkFields(
                    mapped, allowed: ["type", "required", "title", "description", "values", "pattern", "default"],
                    in: context)
                if let typeEntry = field(mapped, "type") {
                    typeName = string(typeEntry.value, what: "'type' of \(context)")
                } else {
                    error("\(context) is missing 'type'", at: entry.keyLocation)
                }
            }
            if let typeName {
                if let type = FieldType(rawValue: typeName) {
                    spec.type = type
                } else {
                    let typeLocation = field(specEntries, "type").map { location($0.value) } ?? location(entry.value)
                    error(
                        "\(context) has unknown type '\(typeName)' (types are: "
                            + FieldType.allCases.map(\.rawValue).joined(separator: ", ") + ")",
                        at: typeLocation)
                    continue
                }
            } else if specEntries.isEmpty {
                continue
            }
            if let requiredEntry = field(specEntries, "required") {
                spec.required = boolean(requiredEntry.value, what: "'required' of \(context)") ?? false
            }
            spec.title = field(specEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
            spec.description = field(specEntries, "description").flatMap {
                string($0.value, what: "'description' of \(context)")
            }
            if let valuesEntry = field(specEntries, "values") {
                if spec.type != .enum {
                    error(
                        "\(context) has 'values' but its type is \(spec.type.rawValue), not enum",
                        at: valuesEntry.keyLocation)
                } else if let items = list(valuesEntry.value, what: "'values' of \(context)") {
                    spec.values = items.compactMap { string($0, what: "a value of \(context)") }
                    if spec.values.isEmpty {
                        error("\(context) has no values", at: location(valuesEntry.value))
                    }
                }
            } else if spec.type == .enum {
                error("\(context) is an enum but has no 'values'", at: entry.keyLocation)
            }
            if let patternEntry = field(specEntries, "pattern"),
                let pattern = string(patternEntry.value, what: "'pattern'")
            {
                if !spec.type.holdsString {
                    error(
                        "\(context) has a 'pattern' but its type is \(spec.type.rawValue)", at: patternEntry.keyLocation
                    )
                } else if let problem = FieldSpec.patternProblem(pattern) {
                    error("\(context) has an invalid pattern: \(problem)", at: location(patternEntry.value))
                } else {
                    spec.pattern = pattern
                }
            }
            if let defaultEntry = field(specEntries, "default") {
                spec.defaultValue = readDefault(
                    defaultEntry.value, spec: spec, context: context, allowTemplate: allowDefaultTemplate, scope: scope)
            }
            if result.contains(where: { $0.name == name }) {
                error("\(context) is declared twice", at: entry.keyLocation)
            }
            result.append(spec)
        }
        return result
    }

    mutating func readDefault(
        _ node: Node, spec: FieldSpec, context: String, allowTemplate: Bool, scope: Scope
    ) -> ValueSource? {
        guard let source = valueSource(node, what: "the default of \(context)", scope: scope, expectation: nil) else {
            return nil
        }
        switch source {
        case .literal(let value):
            if case .failure(let problem) = spec.check(value) {
                error("the default of \(context) \(problem.reason)", at: location(node))
            }
        case .template(let template):
            if !allowTemplate, !template.expressions.isEmpty {
                error("the default of \(context) must be a fixed value, not an expression", at: location(node))
                return nil
            }
            if let expression = template.soleExpression, let scalar = scalarText(node) {
                pendingExpressions.append(
                    PendingExpression(
                        expression: expression, scalar: scalar, offset: template.expressions[0].1, scope: scope,
                        expectation: .field(spec, "the default of \(context)")))
            } else if template.expressions.isEmpty {
                if case .failure(let problem) = spec.check(.string(template.source)) {
                    error("the default of \(context) \(problem.reason)", at: location(node))
                }
            } else {
                queueTemplate(template, node: node, scope: scope)
                if !spec.type.holdsString {
                    error(
                        "the default of \(context) is text, but \(spec.name) is \(spec.type.article) \(spec.type.rawValue)",
                        at: location(node))
                }
            }
        }
        return source
    }

    // MARK: Steps

    static let stepKinds = ["task", "decision", "parallel", "wait", "timer", "block", "set", "notify", "call", "end"]

    mutating func readSteps(_ nodes: [Node], placement: StepPlacement, listName: String, topLevel: Bool) -> [String] {
        var ids: [String] = []
        for node in nodes {
            if let id = readStep(node, placement: placement) {
                ids.append(id)
            }
        }
        lists.append((listName, ids, topLevel))
        return ids
    }

    mutating func readStep(_ node: Node, placement: StepPlacement) -> String? {
        guard let stepEntries = entries(node, what: "a step") else { return nil }
        let stepLocation = location(node)
        guard let idEntry = field(stepEntries, "id"), let id = string(idEntry.value, what: "a step id") else {
            if field(stepEntries, "id") == nil {
                error("a step is missing 'id'", at: stepLocation)
            }
            return nil
        }
        let idLocation = location(idEntry.value)
        let context = "step '\(id)'"
        if !Self.isName(id) {
            error("step id '\(id)' may only use letters, digits, '-' and '_'", at: idLocation)
        }
        if let existing = steps[id] {
            error("duplicate step id '\(id)' (first used on line \(existing.location.line))", at: idLocation)
            return nil
        }
        checkFields(stepEntries, allowed: ["id", "title", "if", "next"] + Self.stepKinds, in: context)
        let kinds = stepEntries.filter { Self.stepKinds.contains($0.key) }
        guard let kindEntry = kinds.first else {
            error("\(context) needs one of: \(Self.stepKinds.joined(separator: ", "))", at: idLocation)
            return nil
        }
        if kinds.count > 1 {
            error(
                "\(context) has both '\(kinds[0].key)' and '\(kinds[1].key)'; a step does one thing",
                at: kinds[1].keyLocation)
        }
        let scope = Scope(block: placement.block)
        // Register the step before reading its body, so nested steps see its id as taken.
        var step = Step(
            id: id, title: nil, condition: nil, next: nil, kind: .end(EndStep(outcome: .completed, reason: nil)),
            placement: placement, location: idLocation)
        steps[id] = step
        stepOrder.append(id)

        step.title = field(stepEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
        if let ifEntry = field(stepEntries, "if") {
            step.condition = condition(ifEntry.value, what: "'if' of \(context)", scope: scope)
        }
        if let nextEntry = field(stepEntries, "next"), let next = string(nextEntry.value, what: "'next' of \(context)")
        {
            if ["decision", "end"].contains(kindEntry.key) {
                error("\(context) is a \(kindEntry.key) step, which has no 'next'", at: nextEntry.keyLocation)
            } else {
                explicitNext[id] = (next, location(nextEntry.value))
            }
        }
        let body = kindEntry.value
        switch kindEntry.key {
        case "task":
            step.kind = .task(readTask(body, context: context, scope: scope, at: kindEntry.keyLocation))
        case "decision":
            step.kind = .decision(readDecision(body, stepID: id, context: context, scope: scope))
        case "parallel":
            step.kind = .parallel(readParallel(body, stepID: id, placement: placement, context: context))
        case "wait":
            step.kind = .wait(readWait(body, stepID: id, context: context, scope: scope, at: kindEntry.keyLocation))
        case "timer":
            step.kind = .timer(readTimer(body, context: context, scope: scope, at: kindEntry.keyLocation))
        case "block":
            step.kind = .block(
                readBlockCall(body, stepID: id, context: context, scope: scope, at: kindEntry.keyLocation))
        case "set":
            step.kind = .set(readSet(body, context: context, scope: scope))
        case "notify":
            step.kind = .notify(readNotify(body, context: context, scope: scope, at: kindEntry.keyLocation))
        case "call":
            step.kind = .call(readCall(body, stepID: id, context: context, scope: scope, at: kindEntry.keyLocation))
        default:
            step.kind = .end(readEnd(body, context: context, scope: scope))
        }
        steps[id] = step
        return id
    }

    mutating func readTask(_ node: Node, context: String, scope: Scope, at keyLocation: SourcePosition) -> TaskStep {
        var task = TaskStep(
            role: "", title: Template(literal: ""), instructions: nil, checklist: [], outputs: [], due: nil)
        guard let taskEntries = entries(node, what: "the task of \(context)") else { return task }
        checkFields(
            taskEntries,
            allowed: ["role", "title", "instructions", "checklist", "outputs", "due", "remind", "escalate", "claim_timeout"],
            in: "the task of \(context)")
        if let roleEntry = field(taskEntries, "role") {
            if let role = string(roleEntry.value, what: "'role'") {
                task.role = role
                if !roles.contains(role) {
                    error(
                        "\(context) has unknown role '\(role)' (roles are: \(roles.joined(separator: ", ")))",
                        at: location(roleEntry.value))
                }
            }
        } else {
            error("the task of \(context) is missing 'role'", at: keyLocation)
        }
        if let titleEntry = field(taskEntries, "title") {
            task.title = template(titleEntry.value, what: "'title' of \(context)", scope: scope) ?? task.title
        } else {
            error("the task of \(context) is missing 'title'", at: keyLocation)
        }
        if let instructionsEntry = field(taskEntries, "instructions") {
            task.instructions = template(instructionsEntry.value, what: "'instructions' of \(context)", scope: scope)
        }
        if let checklistEntry = field(taskEntries, "checklist"),
            let items = list(checklistEntry.value, what: "'checklist'")
        {
            for (index, item) in items.enumerated() {
                var itemID = String(index + 1)
                var textNode = item
                var itemCondition: Expression?
                if item.mapping != nil, let itemEntries = entries(item, what: "a checklist item") {
                    checkFields(itemEntries, allowed: ["id", "text", "if"], in: "a checklist item of \(context)")
                    if let idNode = field(itemEntries, "id"), let given = string(idNode.value, what: "a checklist id") {
                        itemID = given
                        if !Self.isName(given) {
                            error(
                                "checklist id '\(given)' may only use letters, digits, '-' and '_'",
                                at: location(idNode.value))
                        }
                    }
                    if let ifNode = field(itemEntries, "if") {
                        itemCondition = condition(
                            ifNode.value, what: "'if' of a checklist item of \(context)", scope: scope)
                    }
                    guard let text = field(itemEntries, "text") else {
                        error("a checklist item of \(context) is missing 'text'", at: location(item))
                        continue
                    }
                    textNode = text.value
                }
                if task.checklist.contains(where: { $0.id == itemID }) {
                    error("checklist item '\(itemID)' of \(context) is listed twice", at: location(item))
                    continue
                }
                if let text = template(textNode, what: "a checklist item of \(context)", scope: scope) {
                    task.checklist.append(ChecklistEntry(id: itemID, text: text, condition: itemCondition))
                }
            }
        }
        if let outputsEntry = field(taskEntries, "outputs") {
            task.outputs = readFields(outputsEntry.value, owner: "output", allowDefaultTemplate: true, scope: scope)
        }
        if let dueEntry = field(taskEntries, "due") {
            if dueEntry.value.scalar?.string.contains("${") == true {
                task.due = valueSource(dueEntry.value, what: "'due' of \(context)", scope: scope, expectation: nil)
                    .map { .at($0) }
            } else {
                task.due = timeSpan(dueEntry.value, what: "'due' of \(context)").map { .after($0) }
            }
        }
        if let timeoutEntry = field(taskEntries, "claim_timeout") {
            task.claimTimeout = timeSpan(timeoutEntry.value, what: "'claim_timeout' of \(context)")
        }
        if let remindEntry = field(taskEntries, "remind"), let remind = entries(remindEntry.value, what: "'remind' of \(context)") {
            checkFields(remind, allowed: ["before", "after"], in: "'remind' of \(context)")
            task.remindBefore = field(remind, "before").flatMap { timeSpan($0.value, what: "'remind.before' of \(context)") }
            task.remindAfter = field(remind, "after").flatMap { timeSpan($0.value, what: "'remind.after' of \(context)") }
            if field(taskEntries, "due") == nil {
                error("'remind' of \(context) needs 'due': reminders are timed from the due time", at: remindEntry.keyLocation)
            }
        }
        if let escalateEntry = field(taskEntries, "escalate"),
            let escalate = entries(escalateEntry.value, what: "'escalate' of \(context)")
        {
            checkFields(escalate, allowed: ["after", "to", "mode"], in: "'escalate' of \(context)")
            let after = requiredEntry(escalate, "after", in: "'escalate' of \(context)", at: escalateEntry.keyLocation)
                .flatMap { timeSpan($0.value, what: "'escalate.after' of \(context)") }
            let role = requiredString(escalate, "to", in: "'escalate' of \(context)", at: escalateEntry.keyLocation)
            var mode = Escalation.Mode.add
            if let modeEntry = field(escalate, "mode"), let text = string(modeEntry.value, what: "'escalate.mode'") {
                if let parsed = Escalation.Mode(rawValue: text) {
                    mode = parsed
                } else {
                    error("'escalate.mode' of \(context) is add or move, not '\(text)'", at: location(modeEntry.value))
                }
            }
            if let role, !roles.contains(role) {
                let known = Self.closest(to: role, in: roles).map { " (did you mean '\($0)'?)" } ?? ""
                error("'escalate.to' of \(context) is unknown role '\(role)'\(known)", at: escalateEntry.keyLocation)
            } else if let role, role == task.role {
                error("'escalate.to' of \(context) is the task's own role '\(role)'", at: escalateEntry.keyLocation)
            }
            if let after, let role {
                task.escalation = Escalation(after: after, role: role, mode: mode)
            }
        }
        return task
    }

    mutating func readDecision(_ node: Node, stepID: String, context: String, scope: Scope) -> DecisionStep {
        var decision = DecisionStep(branches: [], otherwise: nil)
        guard let items = list(node, what: "the decision of \(context)") else { return decision }
        if items.isEmpty {
            error("the decision of \(context) has no branches", at: location(node))
        }
        for item in items {
            guard let branchEntries = entries(item, what: "a branch of \(context)") else { continue }
            if decision.otherwise != nil {
                error("\(context) has a branch after 'otherwise'; 'otherwise' comes last", at: location(item))
            }
            if let otherwise = field(branchEntries, "otherwise") {
                checkFields(branchEntries, allowed: ["otherwise"], in: "the 'otherwise' branch of \(context)")
                if let target = string(otherwise.value, what: "'otherwise'") {
                    decision.otherwise = target
                    explicitReference(from: stepID, target: target, at: location(otherwise.value))
                }
                continue
            }
            checkFields(branchEntries, allowed: ["when", "next"], in: "a branch of \(context)")
            guard let whenEntry = field(branchEntries, "when") else {
                error("a branch of \(context) needs 'when' and 'next', or 'otherwise'", at: location(item))
                continue
            }
            guard let nextEntry = field(branchEntries, "next") else {
                error("a branch of \(context) is missing 'next'", at: location(item))
                continue
            }
            let condition = condition(whenEntry.value, what: "'when' of \(context)", scope: scope)
            if let target = string(nextEntry.value, what: "'next'") {
                explicitReference(from: stepID, target: target, at: location(nextEntry.value))
                if let condition {
                    decision.branches.append(DecisionBranch(condition: condition, next: target))
                }
            }
        }
        return decision
    }

    mutating func readParallel(_ node: Node, stepID: String, placement: StepPlacement, context: String) -> ParallelStep
    {
        var parallel = ParallelStep(branches: [])
        guard let branchEntries = entries(node, what: "the parallel of \(context)") else { return parallel }
        if branchEntries.count < 2 {
            error("the parallel of \(context) needs at least two branches", at: location(node))
        }
        for entry in branchEntries {
            guard let nodes = list(entry.value, what: "branch '\(entry.key)' of \(context)") else { continue }
            if nodes.isEmpty {
                error("branch '\(entry.key)' of \(context) has no steps", at: entry.keyLocation)
            }
            let branchPlacement = StepPlacement(block: placement.block, parallel: stepID, branch: entry.key)
            let ids = readSteps(
                nodes, placement: branchPlacement, listName: "branch '\(entry.key)' of \(context)", topLevel: false)
            parallel.branches.append(ParallelBranch(name: entry.key, steps: ids))
        }
        return parallel
    }

    mutating func readWait(
        _ node: Node, stepID: String, context: String, scope: Scope, at keyLocation: SourcePosition
    ) -> WaitStep {
        var wait = WaitStep(signal: "", timeout: nil, onTimeout: nil)
        guard let waitEntries = entries(node, what: "the wait of \(context)") else { return wait }
        checkFields(waitEntries, allowed: ["signal", "timeout", "on_timeout", "data"], in: "the wait of \(context)")
        if let dataEntry = field(waitEntries, "data") {
            wait.data = readFields(dataEntry.value, owner: "signal field", allowDefaultTemplate: false, scope: scope)
        }
        if let signalEntry = field(waitEntries, "signal"), let signal = string(signalEntry.value, what: "'signal'") {
            wait.signal = signal
            if !Self.isName(signal) {
                error(
                    "signal name '\(signal)' may only use letters, digits, '-' and '_'", at: location(signalEntry.value)
                )
            }
        } else if field(waitEntries, "signal") == nil {
            error("the wait of \(context) is missing 'signal'", at: keyLocation)
        }
        if let timeoutEntry = field(waitEntries, "timeout") {
            wait.timeout = timeSpan(timeoutEntry.value, what: "'timeout' of \(context)")
        }
        if let onTimeoutEntry = field(waitEntries, "on_timeout"),
            let target = string(onTimeoutEntry.value, what: "'on_timeout'")
        {
            if field(waitEntries, "timeout") == nil {
                error("\(context) has 'on_timeout' but no 'timeout'", at: onTimeoutEntry.keyLocation)
            }
            wait.onTimeout = target
            explicitReference(from: stepID, target: target, at: location(onTimeoutEntry.value))
        }
        return wait
    }

    mutating func readTimer(_ node: Node, context: String, scope: Scope, at keyLocation: SourcePosition) -> TimerStep {
        let fallback = TimerStep.duration(TimeSpan(seconds: 0))
        guard let timerEntries = entries(node, what: "the timer of \(context)") else { return fallback }
        checkFields(timerEntries, allowed: ["for", "until"], in: "the timer of \(context)")
        let duration = field(timerEntries, "for")
        let until = field(timerEntries, "until")
        switch (duration, until) {
        case (let duration?, nil):
            return timeSpan(duration.value, what: "'for' of \(context)").map { .duration($0) } ?? fallback
        case (nil, let until?):
            if let value = valueSource(until.value, what: "'until' of \(context)", scope: scope, expectation: nil) {
                if case .literal(let literal) = value, literal.stringValue.flatMap(Timestamp.parse) == nil {
                    error(
                        "'until' of \(context) must be an ISO 8601 time such as 2026-01-31T09:00:00Z",
                        at: location(until.value))
                } else if case .template(let template) = value, template.expressions.isEmpty,
                    Timestamp.parse(template.source) == nil
                {
                    error(
                        "'until' of \(context) must be an ISO 8601 time such as 2026-01-31T09:00:00Z",
                        at: location(until.value))
                }
                return .until(value)
            }
            return fallback
        case (.some, .some):
            error("the timer of \(context) has both 'for' and 'until'; give one", at: keyLocation)
            return fallback
        case (nil, nil):
            error("the timer of \(context) needs 'for' (a duration) or 'until' (a time)", at: keyLocation)
            return fallback
        }
    }

    mutating func readBlockCall(
        _ node: Node, stepID: String, context: String, scope: Scope, at keyLocation: SourcePosition
    ) -> BlockCall {
        var call = BlockCall(block: "", arguments: [])
        guard let callEntries = entries(node, what: "the block of \(context)") else { return call }
        checkFields(callEntries, allowed: ["use", "with"], in: "the block of \(context)")
        var argumentLocations: [String: SourcePosition] = [:]
        guard let useEntry = field(callEntries, "use"), let name = string(useEntry.value, what: "'use'") else {
            if field(callEntries, "use") == nil {
                error("the block of \(context) is missing 'use' (the block to run)", at: keyLocation)
            }
            return call
        }
        call.block = name
        if let withEntry = field(callEntries, "with"), let arguments = entries(withEntry.value, what: "'with'") {
            for argument in arguments {
                argumentLocations[argument.key] = argument.keyLocation
                if let value = valueSource(
                    argument.value, what: "argument '\(argument.key)'", scope: scope, expectation: nil)
                {
                    call.arguments.append(NamedValue(name: argument.key, value: value))
                }
            }
        }
        blockCalls.append((stepID, call, location(useEntry.value), argumentLocations))
        return call
    }

    /// A role this workflow declares, or an error naming the roles it does.
    mutating func checkRole(_ role: String, what: String, at position: SourcePosition) {
        guard !roles.contains(role) else { return }
        let guess = Self.closest(to: role, in: roles).map { " (did you mean '\($0)'?)" } ?? ""
        error("\(what) is unknown role '\(role)'\(guess); roles are: \(roles.joined(separator: ", "))", at: position)
    }

    mutating func readNotify(_ node: Node, context: String, scope: Scope, at keyLocation: SourcePosition) -> NotifyStep {
        var notify = NotifyStep(role: "", message: Template(literal: ""))
        guard let entries = entries(node, what: "the notify of \(context)") else { return notify }
        checkFields(entries, allowed: ["role", "message"], in: "the notify of \(context)")
        if let role = requiredString(entries, "role", in: "the notify of \(context)", at: keyLocation) {
            notify.role = role
            if let roleEntry = field(entries, "role") {
                checkRole(role, what: "'role' of \(context)", at: location(roleEntry.value))
            }
        }
        if let messageEntry = requiredEntry(entries, "message", in: "the notify of \(context)", at: keyLocation) {
            notify.message = template(messageEntry.value, what: "'message' of \(context)", scope: scope) ?? notify.message
        }
        return notify
    }

    mutating func readCall(
        _ node: Node, stepID: String, context: String, scope: Scope, at keyLocation: SourcePosition
    ) -> CallStep {
        var call = CallStep(endpoint: "", arguments: [], outputs: [], onFailure: nil)
        guard let entries = entries(node, what: "the call of \(context)") else { return call }
        checkFields(entries, allowed: ["endpoint", "with", "outputs", "on_failure"], in: "the call of \(context)")
        if let endpoint = requiredString(entries, "endpoint", in: "the call of \(context)", at: keyLocation) {
            call.endpoint = endpoint
            if !Self.isName(endpoint), let endpointEntry = field(entries, "endpoint") {
                error(
                    "endpoint name '\(endpoint)' may only use letters, digits, '-' and '_' (its URL lives in configuration)",
                    at: location(endpointEntry.value))
            }
        }
        if let withEntry = field(entries, "with"), let arguments = self.entries(withEntry.value, what: "'with'") {
            for argument in arguments {
                if let value = valueSource(argument.value, what: "argument '\(argument.key)'", scope: scope, expectation: nil) {
                    call.arguments.append(NamedValue(name: argument.key, value: value))
                }
            }
        }
        if let outputsEntry = field(entries, "outputs") {
            call.outputs = readFields(outputsEntry.value, owner: "output", allowDefaultTemplate: false, scope: scope)
        }
        if let failureEntry = field(entries, "on_failure"), let target = string(failureEntry.value, what: "'on_failure'") {
            call.onFailure = target
            explicitReference(from: stepID, target: target, at: location(failureEntry.value))
        }
        return call
    }

    mutating func readSet(_ node: Node, context: String, scope: Scope) -> [VariableAssignment] {
        guard let setEntries = entries(node, what: "the set of \(context)") else { return [] }
        if setEntries.isEmpty {
            error("the set of \(context) names no variables", at: location(node))
        }
        var assignments: [VariableAssignment] = []
        for entry in setEntries {
            if !Self.isName(entry.key) {
                error("variable name '\(entry.key)' may only use letters, digits, '-' and '_'", at: entry.keyLocation)
            }
            if let value = valueSource(entry.value, what: "variable '\(entry.key)'", scope: scope, expectation: nil) {
                assignments.append(NamedValue(name: entry.key, value: value))
                if !variableNames.contains(entry.key) {
                    variableNames.append(entry.key)
                }
            }
        }
        return assignments
    }

    mutating func readEnd(_ node: Node, context: String, scope: Scope) -> EndStep {
        var end = EndStep(outcome: .completed, reason: nil)
        if let scalar = node.scalar {
            guard let outcome = EndStep.Outcome(rawValue: scalar.string) else {
                error("'end' of \(context) must be 'completed' or 'failed', not '\(scalar.string)'", at: location(node))
                return end
            }
            end.outcome = outcome
            return end
        }
        guard let endEntries = entries(node, what: "'end' of \(context)") else { return end }
        checkFields(endEntries, allowed: ["status", "reason"], in: "'end' of \(context)")
        if let statusEntry = field(endEntries, "status"), let status = string(statusEntry.value, what: "'status'") {
            if let outcome = EndStep.Outcome(rawValue: status) {
                end.outcome = outcome
            } else {
                error(
                    "'status' of \(context) must be 'completed' or 'failed', not '\(status)'",
                    at: location(statusEntry.value))
            }
        }
        if let reasonEntry = field(endEntries, "reason") {
            end.reason = template(reasonEntry.value, what: "'reason' of \(context)", scope: scope)
        }
        return end
    }

    mutating func explicitReference(from step: String, target: String, at location: SourcePosition) {
        pendingReferences.append(
            PendingReference(from: step, target: target, location: location, list: [], listName: ""))
    }
}

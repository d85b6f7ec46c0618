/// Draws a workflow's flow for people: Mermaid (`flowchart`) or Graphviz `dot`.
///
/// Every block step is drawn expanded, as a subgraph holding that run's steps; every parallel step as a fork, one
/// subgraph per branch and a join. Decision branches are labelled with their conditions; a step with `if` has a
/// dotted edge past it.
public enum WorkflowGraph {
    public enum Format: String, Sendable, CaseIterable {
        case mermaid, dot
    }

    /// How a step of one onboarding is drawn: where it waits now, or done.
    public enum Mark: Sendable {
        case current, done
    }

    /// `marks` is keyed by step path (`standard-consent/read-upn`), as onboardings name their current steps.
    public static func render(_ definition: WorkflowDefinition, format: Format, marks: [String: Mark] = [:]) -> String {
        var drawing = Drawing(definition: definition, format: format, marks: marks)
        return drawing.draw()
    }
}

private struct Drawing {
    let definition: WorkflowDefinition
    let format: WorkflowGraph.Format
    /// By node name.
    var marks: [String: WorkflowGraph.Mark] = [:]
    var lines: [String] = []
    var depth = 1

    init(definition: WorkflowDefinition, format: WorkflowGraph.Format, marks: [String: WorkflowGraph.Mark]) {
        self.definition = definition
        self.format = format
        for (path, mark) in marks {
            self.marks[node(path)] = mark
        }
    }

    mutating func draw() -> String {
        switch format {
        case .mermaid:
            lines.append("flowchart TD")
            if !marks.isEmpty {
                line("classDef current fill:#fde68a,stroke-width:2px")
                line("classDef done fill:#e2e8f0")
            }
            line("start((start))")
            edge(from: "start", to: entry(definition.start, prefix: ""), label: nil, dotted: false)
        case .dot:
            lines.append("digraph \(quoteDot(definition.id)) {")
            line("rankdir=TB;")
            line("node [shape=box, style=rounded, fontname=\"Helvetica\"];")
            line("edge [fontname=\"Helvetica\", fontsize=10];")
            line("start [shape=circle, label=\"start\"];")
            edge(from: "start", to: entry(definition.start, prefix: ""), label: nil, dotted: false)
        }
        drawList(definition.topLevelSteps, prefix: "", exit: nil)
        if format == .dot {
            lines.append("}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Structure

    /// The node a flow arriving at step `id` (at `prefix`) goes to: through block and nothing else.
    func entry(_ id: String, prefix: String) -> String {
        guard let step = definition.steps[id] else { return node(prefix + id) }
        if step.condition == nil, case .block(let call) = step.kind,
            let first = definition.blocks[call.block]?.steps.first
        {
            return entry(first, prefix: prefix + id + "/")
        }
        return node(prefix + id)
    }

    /// Draws the steps of one list; a step that leaves the list goes to `exit` (a join, or after a block).
    mutating func drawList(_ ids: [String], prefix: String, exit: String?) {
        for id in ids {
            guard let step = definition.steps[id] else { continue }
            drawStep(step, prefix: prefix, exit: exit)
        }
    }

    mutating func drawStep(_ step: Step, prefix: String, exit: String?) {
        let path = prefix + step.id
        let name = node(path)
        let after = step.next.map { entry($0, prefix: prefix) } ?? exit
        if let condition = step.condition, let after {
            if case .block = step.kind {
                // A conditional block step keeps its own node, so the skip edge has somewhere to start.
                shape(name, "\(step.id): if \(condition.source)", kind: "decision")
            }
            edge(from: name, to: after, label: "skip unless \(condition.source)", dotted: true)
        }
        switch step.kind {
        case .task(let task):
            shape(name, label(step, detail: "\(task.title.source) · \(task.role)"), kind: "task")
            if let after { edge(from: name, to: after, label: nil, dotted: false) }
        case .decision(let decision):
            shape(name, label(step, detail: nil), kind: "decision")
            for branch in decision.branches {
                edge(from: name, to: entry(branch.next, prefix: prefix), label: branch.condition.source, dotted: false)
            }
            if let otherwise = decision.otherwise {
                edge(from: name, to: entry(otherwise, prefix: prefix), label: "otherwise", dotted: false)
            }
        case .parallel(let parallel):
            let join = node(path + "/join")
            shape(name, label(step, detail: "parallel"), kind: "fork")
            shape(join, "join \(step.id)", kind: "fork")
            for branch in parallel.branches {
                open(cluster: node(path + "/" + branch.name), title: "branch \(branch.name)")
                drawList(branch.steps, prefix: prefix, exit: join)
                close()
                if let first = branch.steps.first {
                    edge(from: name, to: entry(first, prefix: prefix), label: nil, dotted: false)
                }
            }
            if let after { edge(from: join, to: after, label: nil, dotted: false) }
        case .wait(let wait):
            let timeout = wait.timeout.map { ", timeout \($0)" } ?? ""
            shape(name, label(step, detail: "wait for signal \(wait.signal)\(timeout)"), kind: "wait")
            if let after { edge(from: name, to: after, label: "\(wait.signal)", dotted: false) }
            if let onTimeout = wait.onTimeout {
                edge(from: name, to: entry(onTimeout, prefix: prefix), label: "timeout", dotted: false)
            } else if wait.timeout != nil, let after {
                edge(from: name, to: after, label: "timeout", dotted: false)
            }
        case .timer(let timer):
            let detail =
                switch timer {
                case .duration(let span): "timer \(span)"
                case .until(let source): "timer until \(source)"
                }
            shape(name, label(step, detail: detail), kind: "wait")
            if let after { edge(from: name, to: after, label: nil, dotted: false) }
        case .block(let call):
            guard let block = definition.blocks[call.block] else { return }
            let arguments = call.arguments.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")
            open(
                cluster: name + "_block",
                title: "\(step.id): block \(call.block)" + (arguments.isEmpty ? "" : " (\(arguments))"))
            drawList(block.steps, prefix: path + "/", exit: after)
            close()
            if step.condition != nil, let first = block.steps.first {
                edge(from: name, to: entry(first, prefix: path + "/"), label: nil, dotted: false)
            }
        case .notify(let notify):
            shape(name, label(step, detail: "notify \(notify.role)"), kind: "set")
            if let after { edge(from: name, to: after, label: nil, dotted: false) }
        case .call(let call):
            shape(name, label(step, detail: "call \(call.endpoint)"), kind: "task")
            if let after { edge(from: name, to: after, label: nil, dotted: false) }
            if let onFailure = call.onFailure {
                edge(from: name, to: entry(onFailure, prefix: prefix), label: "failed", dotted: false)
            }
        case .set(let assignments):
            let detail = "set " + assignments.map { "\($0.name) = \($0.value)" }.joined(separator: ", ")
            shape(name, label(step, detail: detail), kind: "set")
            if let after { edge(from: name, to: after, label: nil, dotted: false) }
        case .end(let end):
            let detail =
                end.outcome == .failed ? "end: failed" + (end.reason.map { " (\($0.source))" } ?? "") : "end: completed"
            shape(name, label(step, detail: detail), kind: "end")
        }
    }

    func label(_ step: Step, detail: String?) -> String {
        let head = step.title.map { "\(step.id): \($0)" } ?? step.id
        return detail.map { "\(head)\n\($0)" } ?? head
    }

    // MARK: Output

    /// A node name for a step's path, one to one: letters and digits stay, `_` doubles, anything else becomes
    /// `_<hex>_` (so `a-b` and `a_b`, which both became `a_b`, no longer draw as one node).
    func node(_ path: String) -> String {
        var name = "n_"
        for scalar in path.unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                name.unicodeScalars.append(scalar)
            } else if scalar == "_" {
                name += "__"
            } else {
                name += "_" + String(scalar.value, radix: 16) + "_"
            }
        }
        return name
    }

    mutating func line(_ text: String) {
        lines.append(String(repeating: "    ", count: depth) + text)
    }

    mutating func shape(_ name: String, _ text: String, kind: String) {
        switch format {
        case .mermaid:
            let label = quoteMermaid(text)
            let drawn =
                switch kind {
                case "decision": "\(name){\(label)}"
                case "fork": "\(name)[/\(label)/]"
                case "wait": "\(name){{\(label)}}"
                case "set": "\(name)[[\(label)]]"
                case "end": "\(name)([\(label)])"
                default: "\(name)[\(label)]"
                }
            line(drawn)
            switch marks[name] {
            case .current?: line("class \(name) current")
            case .done?: line("class \(name) done")
            case nil: break
            }
        case .dot:
            let attributes =
                switch kind {
                case "decision": "shape=diamond, style=solid"
                case "fork": "shape=parallelogram, style=solid"
                case "wait": "shape=hexagon, style=solid"
                case "set": "shape=box, style=\"rounded,dashed\""
                case "end": "shape=doublecircle, style=solid"
                default: "shape=box"
                }
            let marked =
                switch marks[name] {
                case .current?: ", style=\"rounded,filled,bold\", fillcolor=\"#fde68a\", penwidth=2, class=\"current\""
                case .done?: ", style=\"rounded,filled\", fillcolor=\"#e2e8f0\", class=\"done\""
                case nil: ""
                }
            line("\(name) [\(attributes), label=\(quoteDot(text))\(marked)];")
        }
    }

    mutating func edge(from: String, to: String, label: String?, dotted: Bool) {
        switch format {
        case .mermaid:
            let arrow = dotted ? "-.->" : "-->"
            line(label.map { "\(from) \(arrow)|\(quoteMermaid($0))| \(to)" } ?? "\(from) \(arrow) \(to)")
        case .dot:
            var attributes: [String] = []
            if let label { attributes.append("label=\(quoteDot(label))") }
            if dotted { attributes.append("style=dotted") }
            line("\(from) -> \(to)" + (attributes.isEmpty ? ";" : " [\(attributes.joined(separator: ", "))];"))
        }
    }

    mutating func open(cluster name: String, title: String) {
        switch format {
        case .mermaid: line("subgraph \(name)[\(quoteMermaid(title))]")
        case .dot:
            line("subgraph cluster_\(name) {")
            depth += 1
            line("label=\(quoteDot(title));")
            depth -= 1
        }
        depth += 1
    }

    mutating func close() {
        depth -= 1
        line(format == .mermaid ? "end" : "}")
    }

    func quoteMermaid(_ text: String) -> String {
        let escaped = text.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "\n", with: "<br/>")
        return "\"\(escaped)\""
    }

    func quoteDot(_ text: String) -> String {
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}

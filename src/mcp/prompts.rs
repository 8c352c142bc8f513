//! The server's prompts: the two conversations the issue asks for, written
//! as instructions that name the tools to call and in which order.

/// A prompt: name, description, and its text with `{tenant}`-style slots
/// filled by [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    pub name: &'static str,
    pub description: &'static str,
}

pub const PROMPTS: [Prompt; 2] = [
    Prompt {
        name: "weekly_cost_review",
        description: "Review last week's Kubernetes cost: totals, the largest lines, what \
                      changed and why, and what to do about it.",
    },
    Prompt {
        name: "find_waste",
        description: "Find money wasted on idle capacity, oversized requests, unused disks \
                      and expensive node families, with the savings of each fix.",
    },
];

/// The prompt's text, or `None` for an unknown name. `focus` is an
/// optional namespace or tenant to look at.
pub fn render(name: &str, focus: Option<&str>) -> Option<String> {
    let scope = focus
        .map(|f| format!(" Look only at {f:?} (a tenant or namespace)."))
        .unwrap_or_default();
    let text = match name {
        "weekly_cost_review" => format!(
            "You are reviewing a Kubernetes cluster's cost with the kubetally tools.{scope}\n\
             1. Call cost_breakdown with no window (the last seven complete days) and by=tenant, \
             then by=namespace. Report the total, the five largest lines, and how much is shared \
             and idle cost.\n\
             2. Call cost_change (same grouping) and explain the three largest movers with the \
             drivers it gives: more pods, more hours, bigger requests or higher prices.\n\
             3. For the most expensive workload, call explain_allocation and show its bill as a \
             formula with numbers.\n\
             4. Call recommendations and list the three largest savings with their evidence.\n\
             5. Check the report's reconciliation (sum equals cluster cost) and its quality \
             section, and say how far the figures can be trusted.\n\
             End with a short summary a team lead can act on. Quote figures in USD to the cent."
        ),
        "find_waste" => format!(
            "Find waste in this Kubernetes cluster with the kubetally tools.{scope}\n\
             1. Call cost_breakdown: read waste (requested but unused CPU and memory), \
             unused_volumes (disks no pod mounted) and shared_idle.idle_cost_usd (node capacity \
             nobody requested).\n\
             2. Call recommendations: right-sizing (with evidence: percentiles, OOM kills), \
             spot-eligible workloads and cheaper machine families, each with monthly savings.\n\
             3. Use query for anything else, e.g. the bundled query top_waste_workloads \
             (resource kubetally://queries/top_waste_workloads).\n\
             List the fixes ordered by monthly savings, each with its evidence and the risk of \
             making it. Do not add up savings of kinds that overlap (right-sizing and spot)."
        ),
        _ => return None,
    };
    Some(text)
}

//! What each kind of event does to its artifacts.

use super::attrs::{Value, decimal, one_line};
use super::engine::{Engine, Key, MENTION_PREFIX, art, art_mut};
use super::ids;
use super::metrics::level_of;
use super::model::*;
use super::records::{contract_result, duration_ns, error_text, py_str, standalone_status};
use crate::json::Json;
use crate::parse::{Kind, ParsedEvent};

const INTENT_CLOSERS: [&str; 6] = [
    "intent.completed",
    "intent.closed",
    "intent.rejected",
    "intent.abandoned",
    "intent.archived",
    "intent.done",
];
const INTENT_FAILURES: [&str; 2] = ["intent.rejected", "intent.abandoned"];
const SPEC_CLOSERS: [&str; 3] = ["spec.completed", "spec.done", "spec.closed"];
const SPEC_IN_PROGRESS: [&str; 2] = ["spec.approved", "spec.executing"];

fn signal_inactive(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "signal.clustered" => "clustered",
        "signal.promoted" => "promoted",
        "signal.dismissed" => "dismissed",
        "signal.resolved" => "resolved",
        "signal.archived" => "archived",
        _ => return None,
    })
}

impl Engine {
    pub(super) fn on_signal(&mut self, ev: &ParsedEvent) -> Key {
        let t = ev.time_ns;
        let creation = ev.event_type.ends_with(".created") || ev.event_type.ends_with(".captured");
        if ev.artifact_id.is_none() && !creation {
            return self.on_signal_without_id(ev);
        }
        let sig = self.artifact(Kind::Signal, ev.artifact_id.as_deref(), ev, None);
        self.count_signal(&sig, ev.source.as_deref());
        self.seen(&sig, ev);
        if ev.trust.is_some() || ev.autonomy_level.is_some() {
            self.rescore(&sig, ev);
        }
        if let Some(reason) = signal_inactive(&ev.event_type) {
            self.deactivate(&sig, reason);
        }
        let mut home = sig.clone();
        if ev.event_type == "signal.clustered"
            && let Some(cluster_id) = &ev.cluster_id
        {
            let cluster = self.cluster(cluster_id, ev);
            home = self.join(&sig, &cluster, false, t);
            self.join_members(ev, &cluster, false, Some(&sig));
            if let Some(intent) = art!(self, &cluster).intent.clone() {
                self.join(&sig, &intent, true, t);
            }
        }
        if ev.event_type == "signal.promoted"
            && let Some(intent_id) = &ev.intent_id
        {
            let intent = self.intent(intent_id, ev, true);
            self.promote_its_cluster(&intent, ev);
            home = self.join(&sig, &intent, true, t);
            self.join_members(ev, &intent, true, Some(&sig));
        }
        home
    }

    /// A signal event naming no signal: it says something of its intent or cluster, if any.
    /// Only a creation event makes an anonymous signal; anything else would count a signal
    /// that was never created.
    fn on_signal_without_id(&mut self, ev: &ParsedEvent) -> Key {
        if ev.event_type == "signal.promoted"
            && let Some(intent_id) = &ev.intent_id
        {
            let intent = self.intent(intent_id, ev, true);
            self.promote_its_cluster(&intent, ev);
            self.join_members(ev, &intent, true, None);
            return intent;
        }
        if let Some(cluster_id) = &ev.cluster_id {
            let cluster = self.cluster(cluster_id, ev);
            if ev.event_type == "signal.clustered" {
                self.join_members(ev, &cluster, false, None);
            }
            return cluster;
        }
        self.on_other(ev)
    }

    /// Signals a line lists in `signals: [...]` join the cluster or intent it names.
    fn join_members(&mut self, ev: &ParsedEvent, container: &str, intent_role: bool, skip: Option<&str>) {
        for signal_id in &ev.signals {
            let sig = self.artifact(Kind::Signal, Some(signal_id), ev, None);
            if skip == Some(sig.as_str()) {
                continue;
            }
            self.count_signal(&sig, ev.source.as_deref());
            self.join(&sig, container, intent_role, ev.time_ns);
        }
    }

    fn count_signal(&mut self, key: &str, source: Option<&str>) {
        if art!(self, key).counted {
            return;
        }
        self.metrics.signal_created(source);
        let sig = art_mut!(self, key);
        sig.counted = true;
        sig.closed = true; // a signal is an instant: its observation
        sig.end_ns = Some(sig.first_ns);
        if sig.inactive.is_none() {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, 1);
        }
    }

    fn rescore(&mut self, key: &str, ev: &ParsedEvent) {
        let sig = art_mut!(self, key);
        let active = sig.counted && sig.inactive.is_none();
        if active {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, -1);
        }
        let sig = art_mut!(self, key);
        if let Some(trust) = ev.trust {
            if sig.trust.is_none() {
                self.metrics.trust.observe(trust);
            }
            sig.trust = Some(trust);
        }
        if let Some(level) = &ev.autonomy_level {
            sig.level = Some(level.as_ref().into());
        }
        if active {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, 1);
        }
    }

    fn deactivate(&mut self, key: &str, reason: &str) {
        let sig = art_mut!(self, key);
        if sig.inactive.is_some() {
            return;
        }
        if sig.counted {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, -1);
        }
        art_mut!(self, key).inactive = Some(reason.into());
        self.touch(key);
    }

    fn cluster(&mut self, raw_id: &str, ev: &ParsedEvent) -> Key {
        let key = self.artifact(Kind::Cluster, Some(raw_id), ev, None);
        let cluster = art!(self, &key);
        if cluster.claimed_trace.is_none()
            && !cluster.announced
            && let Some(hinted) = ids::cluster_trace_from_hint(ev.trace_hint.as_deref())
            && !self.claimed.contains_key(&hinted)
        {
            self.claimed.insert(hinted.clone(), key.clone());
            art_mut!(self, &key).claimed_trace = Some(hinted.into());
        }
        self.seen(&key, ev);
        key
    }

    /// The cluster a line names (if any) is promoted into `intent`: it closes, and each of its
    /// members joins the intent's trace.
    fn promote_its_cluster(&mut self, intent: &str, ev: &ParsedEvent) {
        let Some(cluster_id) = &ev.cluster_id else {
            return;
        };
        let cluster = self.cluster(cluster_id, ev);
        if art!(self, &cluster).intent.is_none() {
            art_mut!(self, &cluster).intent = Some(intent.into());
            self.close(&cluster, ev, false);
        }
        for signal in art!(self, &cluster).lists().members.clone() {
            self.join(&signal, intent, true, ev.time_ns);
        }
    }

    /// A signal appears in the container's trace too: in its cluster or intent (the
    /// backfill), or a spec already sent as a trace of its own in the intent it later names.
    pub(super) fn join(&mut self, sig: &str, container: &str, intent_role: bool, time_ns: i64) -> Key {
        let key = Membership::key_of(sig, container, intent_role);
        if self.memberships.contains(&key) {
            return key;
        }
        let signal = art!(self, sig);
        let member = Membership {
            key: key.clone(),
            signal_len: sig.len() as u32,
            intent_role,
            time_ns: if intent_role { signal.first_ns } else { time_ns },
            span_id: ids::span_id(&[&self.scope, "member", &key]),
            attrs: signal.attrs.get().into_owned(),
            observed: false,
        };
        let signal_kind = signal.kind;
        self.memberships.insert(key.clone(), member);
        if art!(self, container).trace_id.is_some() {
            let span = self.member_span(&key);
            self.spans.push(span);
        } else {
            self.members_pending
                .entry(container.to_string())
                .or_default()
                .push(key.clone());
        }
        if signal_kind != Kind::Signal {
            return key; // a spec joining the intent its file names: a copy, nothing more
        }
        art_mut!(self, container)
            .lists_mut()
            .members
            .push(sig.to_string());
        self.touch(container);
        if intent_role {
            let signal = art_mut!(self, sig);
            if signal.intent.is_none() {
                signal.intent = Some(container.into());
            }
            self.deactivate(sig, "promoted");
            if art!(self, container).defined {
                self.observe_signal_to_intent(&key);
            }
        } else if art!(self, sig).cluster.is_none() {
            art_mut!(self, sig).cluster = Some(container.into());
        }
        self.touch(sig);
        key
    }

    pub(super) fn observe_signal_to_intent(&mut self, member_key: &str) {
        let Some(member) = self.memberships.get(member_key) else {
            panic!("no membership {member_key:?}")
        };
        let Some(defined_ns) = art!(self, member.container()).defined_ns else {
            return;
        };
        if member.observed {
            return;
        }
        let first_ns = art!(self, member.signal()).first_ns;
        if let Some(member) = self.memberships.get_mut(member_key) {
            member.observed = true;
        }
        self.metrics.observe_signal_to_intent(defined_ns - first_ns);
    }

    pub(super) fn observe_intent_to_spec(&mut self, key: &str) {
        let intent = art!(self, key);
        let (Some(first_spec_ns), Some(defined_ns)) = (intent.first_spec_ns, intent.defined_ns) else {
            return;
        };
        if intent.observed {
            return;
        }
        art_mut!(self, key).observed = true;
        self.metrics.observe_intent_to_spec(first_spec_ns - defined_ns);
    }

    pub(super) fn on_intent(&mut self, ev: &ParsedEvent) -> Key {
        let Some(id) = &ev.artifact_id else {
            return self.on_other(ev);
        };
        let intent = self.intent(id, ev, true);
        for signal_id in &ev.signals {
            let sig = self.artifact(Kind::Signal, Some(signal_id), ev, None);
            self.count_signal(&sig, ev.source.as_deref());
            self.join(&sig, &intent, true, ev.time_ns);
        }
        self.promote_its_cluster(&intent, ev);
        if INTENT_CLOSERS.contains(&ev.event_type.as_ref()) {
            self.close(&intent, ev, INTENT_FAILURES.contains(&ev.event_type.as_ref()));
        }
        intent
    }

    pub(super) fn on_spec(&mut self, ev: &ParsedEvent) -> Key {
        let spec = self.artifact(Kind::Spec, ev.artifact_id.as_deref(), ev, None);
        self.seen(&spec, ev);
        if !art!(self, &spec).counted {
            let art = art_mut!(self, &spec);
            art.counted = true;
            let open = !art.closed;
            self.metrics.specs += 1;
            self.metrics.open_specs += i64::from(open);
        }
        let intent = self.intent_for(ev, true);
        if let Some(intent) = intent
            && art!(self, &spec).intent.is_none()
        {
            if art!(self, &spec).trace_id.is_some() {
                // already a trace of its own: it joins, linked to it
                self.join(&spec, &intent, true, ev.time_ns);
            }
            art_mut!(self, &spec).intent = Some(intent.as_str().into());
            if art!(self, &intent).first_spec_ns.is_none() {
                let first_ns = art!(self, &spec).first_ns;
                art_mut!(self, &intent).first_spec_ns = Some(first_ns);
                self.observe_intent_to_spec(&intent);
            }
        }
        if SPEC_IN_PROGRESS.contains(&ev.event_type.as_ref()) {
            art_mut!(self, &spec).approved = true;
            self.in_progress(&spec);
        }
        for contract_id in &ev.contracts {
            let contract = self.artifact(Kind::Contract, Some(contract_id), ev, None);
            if !art!(self, &spec).lists().listed.contains(&contract) {
                art_mut!(self, &spec).lists_mut().listed.push(contract.clone());
            }
            self.attach_contract(&contract, &spec);
        }
        if SPEC_CLOSERS.contains(&ev.event_type.as_ref()) {
            self.complete_spec(&spec, ev);
        }
        spec
    }

    fn attach_contract(&mut self, contract: &str, spec: &str) {
        if art!(self, contract).spec.is_none() {
            art_mut!(self, contract).spec = Some(spec.into());
            self.touch(contract);
        }
        if !art!(self, spec).lists().contracts.iter().any(|c| c == contract) {
            art_mut!(self, spec)
                .lists_mut()
                .contracts
                .push(contract.to_string());
            self.touch(spec);
        }
        if art!(self, contract).runs > 0 {
            self.in_progress(spec);
        }
    }

    /// A spec approved or executing counts in `specs.in_progress` until it completes.
    fn in_progress(&mut self, spec: &str) {
        let art = art!(self, spec);
        if !art.in_progress && !art.closed {
            art_mut!(self, spec).in_progress = true;
            self.metrics.specs_in_progress += 1;
            self.touch(spec);
        }
    }

    pub(super) fn on_contract(&mut self, ev: &ParsedEvent) -> Key {
        let contract = self.artifact(Kind::Contract, ev.artifact_id.as_deref(), ev, None);
        self.seen(&contract, ev);
        if let Some(spec_id) = &ev.spec_id {
            let spec = self.artifact(Kind::Spec, Some(spec_id), ev, None);
            self.attach_contract(&contract, &spec);
        }
        if ev.event_type == "contract.started" {
            self.start_run(&contract, ev);
        }
        if let Some(result) = contract_result(ev) {
            self.finish_run(&contract, ev, result);
        }
        contract
    }

    fn start_run(&mut self, key: &str, ev: &ParsedEvent) {
        if art!(self, key).running {
            // started again before it completed: the old run ends here
            self.end_run(key, ev, "restarted", false, None);
        }
        let contract = art_mut!(self, key);
        contract.runs += 1;
        contract.running = true;
        contract.run_start_ns = Some(ev.time_ns);
        self.metrics.running_contracts += 1;
        if let Some(spec) = art!(self, key).spec.clone() {
            self.in_progress(&spec);
        }
    }

    fn finish_run(&mut self, key: &str, ev: &ParsedEvent, result: &str) {
        self.metrics.contract_result(result);
        if !art!(self, key).running {
            // completed with no start seen: a run of its own
            let contract = art_mut!(self, key);
            contract.runs += 1;
            contract.running = true;
            contract.run_start_ns = Some(ev.time_ns - duration_ns(ev));
            self.metrics.running_contracts += 1;
        }
        let failed = result == "fail";
        let message = error_text(ev).or_else(|| {
            failed.then(|| {
                let count = py_str(ev.payload.get("assertions_failed").unwrap_or(&Json::Null));
                one_line(&format!("{count} assertion(s) failed"), 200)
            })
        });
        self.end_run(key, ev, result, failed, message);
        if !failed && let Some(spec) = art!(self, key).spec.clone() {
            self.contract_passed(&spec, key, ev);
        }
    }

    fn end_run(&mut self, key: &str, ev: &ParsedEvent, outcome: &str, error: bool, message: Option<String>) {
        let mut attrs = self.event_attrs(ev);
        let contract = art!(self, key);
        let start = contract.run_start_ns.unwrap_or(ev.time_ns);
        let runs = contract.runs;
        attrs.set("intent.contract.run", Value::Int(runs as i64));
        attrs.set("intent.contract.result", outcome);
        let label = Self::run_label(runs);
        let name = [&*contract.name(), " · run ", &label["run".len()..]].concat();
        self.add_phase(key, &label, name, start, ev.time_ns, error, message, attrs);
        let contract = art_mut!(self, key);
        contract.running = false;
        contract.run_start_ns = None;
        contract.closed = true;
        contract.end_ns = Some(ev.time_ns.max(start));
        contract.error = error;
        self.metrics.running_contracts -= 1;
        self.touch(key);
    }

    fn contract_passed(&mut self, spec: &str, contract: &str, ev: &ParsedEvent) {
        if !art!(self, spec).lists().passed.iter().any(|c| c == contract) {
            art_mut!(self, spec).lists_mut().passed.push(contract.to_string());
        }
        let lists = art!(self, spec).lists();
        if !lists.listed.is_empty() && lists.listed.iter().all(|c| lists.passed.contains(c)) {
            self.complete_spec(spec, ev);
        }
    }

    fn complete_spec(&mut self, spec: &str, ev: &ParsedEvent) {
        if !art!(self, spec).closed {
            self.close(spec, ev, false);
            let first_ns = art!(self, spec).first_ns;
            self.metrics.observe_spec_to_complete(ev.time_ns - first_ns);
        }
    }

    pub(super) fn on_assertion(&mut self, ev: &ParsedEvent) -> Key {
        let mut contract = None;
        if let Some(contract_id) = &ev.contract_id {
            let key = self.artifact(Kind::Contract, Some(contract_id), ev, None);
            self.seen(&key, ev);
            contract = Some(key);
        }
        let run = contract.as_ref().map_or(0, |c| art!(self, c).runs);
        let assertion = match &ev.artifact_id {
            Some(id) => self.assertion(contract.as_deref().unwrap_or("~"), run, id, ev),
            None => self.artifact(Kind::Assertion, None, ev, None),
        };
        let failed = ev.event_type.ends_with(".failed");
        self.metrics
            .assertion_result(if failed { "fail" } else { "pass" });
        let error_value = match ev.payload.get("error") {
            Some(value) if value.truthy() => Some(value),
            _ => ev.payload.get("evidence"),
        };
        self.seen(&assertion, ev); // of none of what follows
        let art = art_mut!(self, &assertion);
        art.contract = contract.map(Text::from);
        art.run = run;
        if !art.closed {
            art.closed = true;
            art.end_ns = Some(ev.time_ns);
            art.error = failed;
            art.status_message = match error_value {
                Some(value) if failed && value.truthy() => Some(one_line(&py_str(value), 200).into()),
                _ => None,
            };
        }
        assertion
    }

    /// The assertion `id` of a contract's run (`scope`: the contract's key): one artifact,
    /// but a new one each time it is evaluated again (at another time).
    fn assertion(&mut self, scope: &str, run: u32, id: &str, ev: &ParsedEvent) -> Key {
        let mut digits = [0; 20];
        let mut own = [
            "assertion:",
            scope,
            "/run",
            decimal(run.into(), &mut digits),
            "/",
            id,
        ]
        .concat();
        match self.artifacts.get(&own) {
            None => {
                // the usual case: its first evaluation, made here (`artifact` would look again)
                self.first_of_id(&own, Kind::Assertion, id, ev, ev.file.as_deref());
                return own;
            }
            Some(earlier) if earlier.first_ns != ev.time_ns => {
                // evaluated again: a new span
                let evaluations = earlier.evaluations + 1;
                art_mut!(self, &own).evaluations = evaluations;
                self.touch(&own);
                own.push('#');
                own.push_str(decimal(u64::from(evaluations) + 1, &mut digits));
            }
            Some(_) => {}
        }
        self.artifact(Kind::Assertion, Some(id), ev, Some(own))
    }

    pub(super) fn on_decision(&mut self, ev: &ParsedEvent) -> Key {
        let decision = self.artifact(Kind::Decision, ev.artifact_id.as_deref(), ev, None);
        self.seen(&decision, ev);
        self.relate(&decision, ev, true);
        let art = art_mut!(self, &decision);
        if !art.closed {
            art.closed = true;
            art.end_ns = Some(art.first_ns);
        }
        decision
    }

    pub(super) fn on_cluster(&mut self, ev: &ParsedEvent) -> Key {
        let Some(id) = &ev.artifact_id else {
            return self.on_other(ev);
        };
        let cluster = self.cluster(id, ev);
        self.join_members(ev, &cluster, false, None);
        cluster
    }

    /// A standalone event: a span of its own, under the artifact it names, if any.
    pub(super) fn on_other(&mut self, ev: &ParsedEvent) -> Key {
        let key = ["event:", &ev.event_id].concat();
        if self.artifacts.contains(&key) {
            // the same line again (its id is the line's hash, or its own id repeated): one event,
            // whose span was announced once; the copy's log record joins it
            return key;
        }
        self.new_artifact(&key, Kind::Other, None, ev);
        art_mut!(self, &key).own_name = Some(ev.event_type.as_ref().into());
        self.relate(&key, ev, !ev.event_type.starts_with(MENTION_PREFIX));
        let (error, message) = standalone_status(ev);
        let span = art_mut!(self, &key);
        span.closed = true;
        span.end_ns = Some(ev.time_ns);
        span.error = error;
        span.status_message = message.map(Text::from);
        if ev.event_type == "trace.completed"
            && let Some(intent) = span.intent.clone()
        {
            self.close(&intent, ev, false);
        }
        key
    }
}

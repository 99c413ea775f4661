//! Checks FHIR R4 resources against the HL7 UK Core profiles in
//! `../shared/reference/uk-core-r4` (read from their XML differentials: cardinalities, fixed
//! systems, sliced identifiers and extensions, the ethnic category extension's binding) and
//! against FHIR R4's own rules a Bundle of them must keep (required elements, required code
//! bindings, references that resolve, no empty values, the invariants bdl-7, obs-6, obs-7,
//! inv-1 and per-1).

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// One element of a profile's differential.
#[derive(Clone, Debug)]
struct Element {
    /// `Patient.identifier:nhsNumber.system`: the path with slice names.
    id: String,
    min: Option<u64>,
    max: Option<String>,
    fixed_uri: Option<String>,
    type_profiles: Vec<String>,
    /// Strength and value set of a binding.
    binding: Option<(String, String)>,
}

#[derive(Clone, Debug)]
struct Profile {
    resource_type: String,
    elements: Vec<Element>,
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/uk-core-r4/structuredefinitions")
}

fn attribute(node: roxmltree::Node, child: &str) -> Option<String> {
    node.children()
        .find(|c| c.has_tag_name(child))
        .and_then(|c| c.attribute("value"))
        .map(str::to_owned)
}

/// Every profile in the reference folder, by canonical URL.
fn profiles() -> HashMap<String, Profile> {
    let mut found = HashMap::new();
    for file in std::fs::read_dir(reference_dir()).expect("the UK Core reference folder") {
        let file = file.unwrap().path();
        let xml = std::fs::read_to_string(&file).unwrap();
        let document = roxmltree::Document::parse(&xml).unwrap();
        let root = document.root_element();
        let url = attribute(root, "url").expect("a profile's url");
        let resource_type = attribute(root, "type").expect("a profile's type");
        let differential = root
            .children()
            .find(|c| c.has_tag_name("differential"))
            .expect("a differential");
        let elements = differential
            .children()
            .filter(|c| c.has_tag_name("element"))
            .map(|e| Element {
                id: e.attribute("id").unwrap().to_owned(),
                min: attribute(e, "min").map(|m| m.parse().unwrap()),
                max: attribute(e, "max"),
                fixed_uri: attribute(e, "fixedUri"),
                type_profiles: e
                    .children()
                    .filter(|c| c.has_tag_name("type"))
                    .flat_map(|t| t.children().filter(|c| c.has_tag_name("profile")))
                    .filter_map(|p| p.attribute("value").map(str::to_owned))
                    .collect(),
                binding: e.children().find(|c| c.has_tag_name("binding")).map(|b| {
                    (
                        attribute(b, "strength").unwrap_or_default(),
                        attribute(b, "valueSet").unwrap_or_default(),
                    )
                }),
            })
            .collect();
        found.insert(
            url,
            Profile {
                resource_type,
                elements,
            },
        );
    }
    found
}

/// The values an element id names within `root` (an object of the profile's type), following
/// slices: an identifier slice by the system its `.system` element fixes, an extension slice by
/// the profile its type names.
fn values_at<'a>(profile: &Profile, root: &'a Value, id: &str) -> Vec<&'a Value> {
    let mut values = vec![root];
    let mut prefix = profile.resource_type.clone();
    for segment in id.split('.').skip(1) {
        let (name, slice) = match segment.split_once(':') {
            Some((name, slice)) => (name, Some(slice)),
            None => (segment, None),
        };
        prefix = format!("{prefix}.{segment}");
        let mut next = Vec::new();
        for value in values {
            let children: Vec<&Value> = match name.strip_suffix("[x]") {
                Some(choice) => value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(key, _)| key.starts_with(choice))
                    .map(|(_, v)| v)
                    .collect(),
                None => value.get(name).into_iter().collect(),
            };
            for child in children {
                match child {
                    Value::Array(items) => next.extend(items.iter()),
                    other => next.push(other),
                }
            }
        }
        if slice.is_some() {
            let slice_element = profile.elements.iter().find(|e| e.id == prefix);
            let fixed_system = profile
                .elements
                .iter()
                .find(|e| e.id == format!("{prefix}.system"))
                .and_then(|e| e.fixed_uri.clone());
            let extension_url = slice_element.and_then(|e| e.type_profiles.first().cloned());
            next.retain(|v| match (&fixed_system, &extension_url) {
                (Some(system), _) => v["system"].as_str() == Some(system),
                (None, Some(url)) if name == "extension" => v["url"].as_str() == Some(url),
                _ => true,
            });
        }
        values = next;
    }
    values
}

/// The element id's parent: `Patient.identifier:nhsNumber` for `….system`.
fn parent_of(id: &str) -> Option<&str> {
    id.rsplit_once('.').map(|(parent, _)| parent)
}

/// What `resource` (or an extension, for an extension profile) breaks of `profile`.
fn check_profile(
    profile: &Profile,
    url: &str,
    root: &Value,
    all: &HashMap<String, Profile>,
    problems: &mut Vec<String>,
) {
    for element in &profile.elements {
        let here = values_at(profile, root, &element.id);
        if let Some(max) = element.max.as_deref().filter(|m| *m != "*") {
            let max: usize = max.parse().unwrap();
            let parents = parent_of(&element.id)
                .map(|p| values_at(profile, root, p))
                .unwrap_or_else(|| vec![root]);
            for parent in parents {
                let count = values_at(
                    profile,
                    parent,
                    &relative(&element.id, parent_of(&element.id)),
                )
                .len();
                if count > max {
                    problems.push(format!(
                        "{url}: {} appears {count} times, at most {max}",
                        element.id
                    ));
                }
            }
        }
        if element.min.unwrap_or(0) >= 1 {
            if let Some(parent) = parent_of(&element.id) {
                if parent.contains('.') || parent.contains(':') || parent != profile.resource_type {
                    for p in values_at(profile, root, parent) {
                        if values_at(profile, p, &relative(&element.id, Some(parent))).is_empty() {
                            problems.push(format!("{url}: {} is required", element.id));
                        }
                    }
                } else if here.is_empty() {
                    problems.push(format!("{url}: {} is required", element.id));
                }
            }
        }
        if let Some(fixed) = &element.fixed_uri {
            for value in &here {
                if value.as_str() != Some(fixed) {
                    problems.push(format!("{url}: {} must be {fixed}, is {value}", element.id));
                }
            }
        }
        // An extension of a profile the reference holds is checked against that profile.
        for extension_profile in &element.type_profiles {
            if let Some(inner) = all.get(extension_profile) {
                for extension in &here {
                    check_profile(inner, extension_profile, extension, all, problems);
                }
            }
        }
        if let Some((strength, value_set)) = &element.binding {
            if value_set == "https://fhir.hl7.org.uk/ValueSet/UKCore-EthnicCategory" {
                for concept in &here {
                    check_ethnic_category(concept, strength, problems);
                }
            }
        }
    }
}

/// The element id relative to `parent`: `Resource.x.y` under `Resource.x` is `Resource.y`, so
/// [`values_at`] can start from the parent's value.
fn relative(id: &str, parent: Option<&str>) -> String {
    let resource = id.split('.').next().unwrap();
    match parent {
        Some(parent) if parent.contains('.') => {
            format!("{resource}{}", &id[parent.len()..])
        }
        _ => id.to_owned(),
    }
}

/// The ethnic category's codings must come from England's (or Wales's) code system with a
/// code of the NHS Data Dictionary's list.
fn check_ethnic_category(concept: &Value, strength: &str, problems: &mut Vec<String>) {
    let codings = concept["coding"].as_array().cloned().unwrap_or_default();
    let known: HashSet<&str> = waymark_domain::pathway::demographics::ETHNIC_CATEGORIES
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let in_value_set = codings.iter().any(|c| {
        c["system"] == "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
            && c["code"].as_str().is_some_and(|code| known.contains(code))
    });
    if !in_value_set && matches!(strength, "required" | "extensible") {
        problems.push(format!(
            "the ethnic category {concept} is not in UKCore-EthnicCategory ({strength})"
        ));
    }
}

/// FHIR R4's required elements and required code bindings of the resources a Bundle of ours
/// may hold.
fn check_base(resource: &Value, problems: &mut Vec<String>) {
    let kind = resource["resourceType"].as_str().unwrap_or("?");
    let id = resource["id"].as_str().unwrap_or("?");
    let required: &[&str] = match kind {
        "ServiceRequest" => &["status", "intent", "subject"],
        "Observation" => &["status", "code"],
        "Encounter" => &["status", "class"],
        "Task" => &["status", "intent"],
        "Bundle" => &["type"],
        _ => &[],
    };
    for field in required {
        if resource.get(*field).is_none() {
            problems.push(format!("{kind}/{id}: {field} is required by FHIR R4"));
        }
    }
    let codes: &[(&str, &[&str])] = match kind {
        "ServiceRequest" => &[
            (
                "status",
                &[
                    "draft",
                    "active",
                    "on-hold",
                    "revoked",
                    "completed",
                    "entered-in-error",
                    "unknown",
                ],
            ),
            (
                "intent",
                &[
                    "proposal",
                    "plan",
                    "directive",
                    "order",
                    "original-order",
                    "reflex-order",
                    "filler-order",
                    "instance-order",
                    "option",
                ],
            ),
            ("priority", &["routine", "urgent", "asap", "stat"]),
        ],
        "Observation" => &[(
            "status",
            &[
                "registered",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
        )],
        "Encounter" => &[(
            "status",
            &[
                "planned",
                "arrived",
                "triaged",
                "in-progress",
                "onleave",
                "finished",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
        )],
        "Task" => &[
            (
                "status",
                &[
                    "draft",
                    "requested",
                    "received",
                    "accepted",
                    "rejected",
                    "ready",
                    "cancelled",
                    "in-progress",
                    "on-hold",
                    "failed",
                    "completed",
                    "entered-in-error",
                ],
            ),
            (
                "intent",
                &[
                    "unknown",
                    "proposal",
                    "plan",
                    "order",
                    "original-order",
                    "reflex-order",
                    "filler-order",
                    "instance-order",
                    "option",
                ],
            ),
        ],
        "Patient" => &[("gender", &["male", "female", "other", "unknown"])],
        "Bundle" => &[(
            "type",
            &[
                "document",
                "message",
                "transaction",
                "transaction-response",
                "batch",
                "batch-response",
                "history",
                "searchset",
                "collection",
            ],
        )],
        _ => &[],
    };
    for (field, allowed) in codes {
        if let Some(value) = resource.get(*field) {
            if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
                problems.push(format!(
                    "{kind}/{id}: {field} {value} is not a FHIR R4 code"
                ));
            }
        }
    }
    if kind == "Encounter" && !resource["class"]["code"].is_string() {
        problems.push(format!("Encounter/{id}: class is a Coding with a code"));
    }
    if kind == "Observation" {
        let has_value = resource
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("value"));
        // obs-6: no dataAbsentReason beside a value; obs-7: no value when a component
        // repeats the Observation's code.
        if has_value && resource.get("dataAbsentReason").is_some() {
            problems.push(format!("Observation/{id}: obs-6"));
        }
        let own: Vec<&Value> = resource["code"]["coding"]
            .as_array()
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        let repeats = resource["component"].as_array().is_some_and(|components| {
            components.iter().any(|c| {
                c["code"]["coding"]
                    .as_array()
                    .is_some_and(|codings| codings.iter().any(|coding| own.contains(&coding)))
            })
        });
        if has_value && repeats {
            problems.push(format!("Observation/{id}: obs-7"));
        }
        for component in resource["component"].as_array().into_iter().flatten() {
            if component.get("code").is_none() {
                problems.push(format!("Observation/{id}: a component's code is required"));
            }
        }
    }
    if kind == "Task" {
        if let (Some(authored), Some(modified)) = (
            resource["authoredOn"].as_str(),
            resource["lastModified"].as_str(),
        ) {
            let parse = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
            if parse(modified) < parse(authored) {
                problems.push(format!("Task/{id}: inv-1, lastModified before authoredOn"));
            }
        }
    }
    if let (Some(start), Some(end)) = (
        resource["period"]["start"].as_str(),
        resource["period"]["end"].as_str(),
    ) {
        let parse = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        if parse(start) > parse(end) {
            problems.push(format!("{kind}/{id}: per-1, period ends before it starts"));
        }
    }
}

/// ele-1: no element is empty (an empty string, array or object).
fn check_not_empty(path: &str, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::String(s) if s.is_empty() => problems.push(format!("{path} is an empty string")),
        Value::Array(items) if items.is_empty() => problems.push(format!("{path} is empty")),
        Value::Object(fields) if fields.is_empty() => problems.push(format!("{path} is empty")),
        Value::Null => problems.push(format!("{path} is null")),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_not_empty(&format!("{path}[{i}]"), item, problems);
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                check_not_empty(&format!("{path}.{name}"), field, problems);
            }
        }
        _ => {}
    }
}

fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                if name == "reference" {
                    if let Some(r) = field.as_str() {
                        found.push(r);
                    }
                } else {
                    references(field, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, found)),
        _ => {}
    }
}

/// Everything a Bundle of UK Core resources breaks; empty when it conforms.
pub fn problems(bundle: &Value) -> Vec<String> {
    let profiles = profiles();
    let mut problems = Vec::new();
    check_not_empty("Bundle", bundle, &mut problems);
    check_base(bundle, &mut problems);
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let mut full_urls = HashSet::new();
    for entry in &entries {
        let full_url = entry["fullUrl"].as_str().unwrap_or_default();
        let resource = &entry["resource"];
        // A collection's entries each have a fullUrl, unique (bdl-7), naming the resource.
        if !full_urls.insert(full_url.to_owned()) {
            problems.push(format!("{full_url} appears twice"));
        }
        let id = resource["id"].as_str().unwrap_or_default();
        if full_url != format!("urn:uuid:{id}") {
            problems.push(format!("{full_url} does not name its resource {id}"));
        }
        if entry.get("request").is_some() || entry.get("response").is_some() {
            problems.push(format!(
                "{full_url}: request or response in a collection (bdl-3, bdl-4)"
            ));
        }
        check_base(resource, &mut problems);
        let declared: Vec<&str> = resource["meta"]["profile"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if declared.is_empty() {
            problems.push(format!("{full_url} declares no profile"));
        }
        for url in declared {
            match profiles.get(url) {
                Some(profile) => {
                    if resource["resourceType"].as_str() != Some(&profile.resource_type) {
                        problems.push(format!("{full_url} is not a {}", profile.resource_type));
                    }
                    check_profile(profile, url, resource, &profiles, &mut problems);
                }
                None => problems.push(format!("{full_url}: unknown profile {url}")),
            }
        }
    }
    for entry in &entries {
        let mut found = Vec::new();
        references(&entry["resource"], &mut found);
        for reference in found {
            if !full_urls.contains(reference) {
                problems.push(format!(
                    "{}: the reference {reference} resolves to no entry",
                    entry["fullUrl"]
                ));
            }
        }
    }
    problems
}

#[test]
fn the_checker_finds_what_breaks_the_profiles_and_the_rules() {
    let good = serde_json::json!({
        "resourceType": "Bundle", "id": "b", "type": "collection",
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle"]},
        "entry": [{
            "fullUrl": "urn:uuid:p",
            "resource": {
                "resourceType": "Patient", "id": "p",
                "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
                "extension": [{
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                    "valueCodeableConcept": {"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland", "code": "A"}]}
                }]
            }
        }]
    });
    assert_eq!(problems(&good), Vec::<String>::new());
    let mut bad = good.clone();
    let patient = &mut bad["entry"][0]["resource"];
    // Two NHS numbers, one without a value; an ethnic category of no known code and one
    // without a value; an invalid gender; a reference to nothing.
    patient["identifier"] = serde_json::json!([
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        {"system": "https://fhir.nhs.uk/Id/nhs-number"}
    ]);
    patient["extension"] = serde_json::json!([
        {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
         "valueCodeableConcept": {"coding": [{"system": "urn:other", "code": "Q"}]}},
        {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"}
    ]);
    patient["gender"] = serde_json::json!("F");
    patient["generalPractitioner"] = serde_json::json!([{"reference": "urn:uuid:nobody"}]);
    let found = problems(&bad);
    for expected in [
        "Patient.identifier:nhsNumber appears 2 times",
        "Patient.identifier:nhsNumber.value is required",
        "Patient.extension:ethnicCategory appears 2 times",
        "Extension.value[x] is required",
        "is not in UKCore-EthnicCategory",
        "gender \"F\" is not a FHIR R4 code",
        "resolves to no entry",
    ] {
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{expected:?} not among {found:#?}"
        );
    }
}

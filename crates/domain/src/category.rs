//! Category: how a person classifies movements, optionally nested under a parent.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::DomainError;
use crate::rule::Rule;
use crate::{CategoryId, Name, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CategoryEvent {
    CategoryCreated {
        category_id: CategoryId,
        owner: UserId,
        name: Name,
        parent_id: Option<CategoryId>,
    },
    CategoryRenamed {
        name: Name,
    },
    /// A rule that puts matching movements in this category.
    CategorizationRuleAdded(Rule),
}

impl DomainEvent for CategoryEvent {
    const EVENT_TYPES: &'static [&'static str] = &["CategoryCreated", "CategoryRenamed", "CategorizationRuleAdded"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::CategoryCreated { .. } => "CategoryCreated",
            Self::CategoryRenamed { .. } => "CategoryRenamed",
            Self::CategorizationRuleAdded(_) => "CategorizationRuleAdded",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CategoryCommand {
    Create {
        category_id: CategoryId,
        owner: UserId,
        name: Name,
        parent_id: Option<CategoryId>,
    },
    Rename {
        owner: UserId,
        name: Name,
    },
    /// `rule.category_id` must be this category.
    AddRule {
        owner: UserId,
        rule: Rule,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExistingCategory {
    pub id: CategoryId,
    pub owner: UserId,
    pub name: Name,
    pub parent_id: Option<CategoryId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Category {
    pub created: Option<ExistingCategory>,
    pub rules: Vec<Rule>,
}

impl Category {
    /// The category if it exists and belongs to `owner`; another user's is "not found".
    pub fn owned_by(&self, owner: UserId) -> Option<&ExistingCategory> {
        self.created.as_ref().filter(|c| c.owner == owner)
    }
}

impl Aggregate for Category {
    type Event = CategoryEvent;
    const STREAM_CATEGORY: &'static str = CategoryId::STREAM_CATEGORY;

    fn apply(&mut self, event: &CategoryEvent) {
        match event {
            CategoryEvent::CategoryCreated { category_id, owner, name, parent_id } => {
                self.created = Some(ExistingCategory {
                    id: *category_id,
                    owner: *owner,
                    name: name.clone(),
                    parent_id: *parent_id,
                });
            }
            CategoryEvent::CategoryRenamed { name } => {
                if let Some(category) = &mut self.created {
                    category.name = name.clone();
                }
            }
            CategoryEvent::CategorizationRuleAdded(rule) => self.rules.push(rule.clone()),
        }
    }
}

/// Most categorisation rules a person may have, across all their categories: each rule is
/// compiled and tried against every new movement, so the count bounds that work and memory.
pub const MAX_RULES_PER_PERSON: usize = 500;

/// What `decide` needs beyond the category itself: the parent named by `Create`, as loaded,
/// and for `AddRule` how many rules the owner has across all their categories. That count
/// comes from a read model (no aggregate holds every rule of a person), so it may lag by the
/// rules added a moment ago; see ADR 0015.
#[derive(Debug, Default)]
pub struct CategoryContext<'a> {
    pub parent: Option<&'a Category>,
    pub rules_of_owner: usize,
}

pub fn decide(
    state: &Category,
    command: CategoryCommand,
    context: CategoryContext<'_>,
) -> Result<Vec<CategoryEvent>, DomainError> {
    match command {
        CategoryCommand::Create { category_id, owner, name, parent_id } => {
            if state.created.is_some() {
                return Err(DomainError::AlreadyExists { what: "category" });
            }
            if parent_id.is_some()
                && context.parent.and_then(|p| p.owned_by(owner)).map(|p| Some(p.id)) != Some(parent_id)
            {
                return Err(DomainError::NotFound { what: "parent category" });
            }
            Ok(vec![CategoryEvent::CategoryCreated { category_id, owner, name, parent_id }])
        }
        CategoryCommand::Rename { owner, name } => {
            let category = state.owned_by(owner).ok_or(DomainError::NotFound { what: "category" })?;
            if category.name == name {
                return Ok(vec![]);
            }
            Ok(vec![CategoryEvent::CategoryRenamed { name }])
        }
        CategoryCommand::AddRule { owner, rule } => {
            let category = state.owned_by(owner).ok_or(DomainError::NotFound { what: "category" })?;
            if rule.category_id != category.id {
                return Err(DomainError::NotFound { what: "category" });
            }
            if state.rules.iter().any(|r| r.rule_id == rule.rule_id) {
                return Err(DomainError::AlreadyExists { what: "rule" });
            }
            // This category's own rules are counted for certain; the read model's count may lag.
            if context.rules_of_owner.max(state.rules.len()) >= MAX_RULES_PER_PERSON {
                return Err(DomainError::LimitReached { what: "categorisation rules", limit: MAX_RULES_PER_PERSON });
            }
            Ok(vec![CategoryEvent::CategorizationRuleAdded(rule)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;

    fn created(owner: UserId) -> CategoryEvent {
        CategoryEvent::CategoryCreated {
            category_id: CategoryId::new(),
            owner,
            name: Name::parse("name", "Food").unwrap(),
            parent_id: None,
        }
    }

    fn create(owner: UserId, parent_id: Option<CategoryId>) -> CategoryCommand {
        CategoryCommand::Create {
            category_id: CategoryId::new(),
            owner,
            name: Name::parse("name", "Groceries").unwrap(),
            parent_id,
        }
    }

    #[test]
    fn a_category_may_nest_under_its_owners_category() {
        let owner = UserId::new();
        let parent = fold::<Category>(&[created(owner)]);
        let parent_id = parent.created.as_ref().map(|c| c.id);
        let events = decide(
            &Category::default(),
            create(owner, parent_id),
            CategoryContext { parent: Some(&parent), ..Default::default() },
        )
        .unwrap();
        assert!(matches!(&events[..], [CategoryEvent::CategoryCreated { parent_id: p, .. }] if *p == parent_id));
    }

    #[test]
    fn a_category_cannot_nest_under_another_users_category() {
        let parent = fold::<Category>(&[created(UserId::new())]);
        let parent_id = parent.created.as_ref().map(|c| c.id);
        let result = decide(
            &Category::default(),
            create(UserId::new(), parent_id),
            CategoryContext { parent: Some(&parent), ..Default::default() },
        );
        assert_eq!(result, Err(DomainError::NotFound { what: "parent category" }));
    }

    #[test]
    fn a_rule_is_added_to_its_owners_category_only() {
        let owner = UserId::new();
        let category = fold::<Category>(&[created(owner)]);
        let category_id = category.created.as_ref().map(|c| c.id).unwrap();
        let criteria = crate::rule::Criteria::new(
            crate::rule::TextPattern::parse("description_pattern", "mercadona").unwrap(),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        let rule = Rule { rule_id: crate::RuleId::new(), category_id, criteria, priority: 0 };
        let events =
            decide(&category, CategoryCommand::AddRule { owner, rule: rule.clone() }, CategoryContext::default());
        assert_eq!(events, Ok(vec![CategoryEvent::CategorizationRuleAdded(rule.clone())]));
        let stranger =
            decide(&category, CategoryCommand::AddRule { owner: UserId::new(), rule }, CategoryContext::default());
        assert_eq!(stranger, Err(DomainError::NotFound { what: "category" }));
    }

    #[test]
    fn the_501st_rule_of_a_person_is_refused_whichever_category_it_goes_to() {
        let owner = UserId::new();
        let category = fold::<Category>(&[created(owner)]);
        let category_id = category.created.as_ref().map(|c| c.id).unwrap();
        let criteria = crate::rule::Criteria::new(
            crate::rule::TextPattern::parse("description_pattern", "lidl").unwrap(),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        let add = || CategoryCommand::AddRule {
            owner,
            rule: Rule { rule_id: crate::RuleId::new(), category_id, criteria: criteria.clone(), priority: 0 },
        };
        let context = |rules_of_owner| CategoryContext { parent: None, rules_of_owner };
        let events = decide(&category, add(), context(MAX_RULES_PER_PERSON - 1)).unwrap();
        assert!(matches!(&events[..], [CategoryEvent::CategorizationRuleAdded(_)]));
        assert!(matches!(
            decide(&category, add(), context(MAX_RULES_PER_PERSON)),
            Err(DomainError::LimitReached { what: "categorisation rules", limit: MAX_RULES_PER_PERSON })
        ));
    }

    #[test]
    fn a_missing_parent_is_not_found() {
        let result =
            decide(&Category::default(), create(UserId::new(), Some(CategoryId::new())), CategoryContext::default());
        assert_eq!(result, Err(DomainError::NotFound { what: "parent category" }));
    }
}

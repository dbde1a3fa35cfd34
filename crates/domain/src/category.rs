//! Category: how a person classifies movements, optionally nested under a parent.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::DomainError;
use crate::{CategoryId, Name, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CategoryEvent {
    CategoryCreated { category_id: CategoryId, owner: UserId, name: Name, parent_id: Option<CategoryId> },
    CategoryRenamed { name: Name },
}

impl DomainEvent for CategoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::CategoryCreated { .. } => "CategoryCreated",
            Self::CategoryRenamed { .. } => "CategoryRenamed",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CategoryCommand {
    Create { category_id: CategoryId, owner: UserId, name: Name, parent_id: Option<CategoryId> },
    Rename { owner: UserId, name: Name },
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
        }
    }
}

/// What `decide` needs beyond the category itself: the parent named by `Create`, as loaded.
#[derive(Debug, Default)]
pub struct CategoryContext<'a> {
    pub parent: Option<&'a Category>,
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
        let events =
            decide(&Category::default(), create(owner, parent_id), CategoryContext { parent: Some(&parent) }).unwrap();
        assert!(matches!(&events[..], [CategoryEvent::CategoryCreated { parent_id: p, .. }] if *p == parent_id));
    }

    #[test]
    fn a_category_cannot_nest_under_another_users_category() {
        let parent = fold::<Category>(&[created(UserId::new())]);
        let parent_id = parent.created.as_ref().map(|c| c.id);
        let result =
            decide(&Category::default(), create(UserId::new(), parent_id), CategoryContext { parent: Some(&parent) });
        assert_eq!(result, Err(DomainError::NotFound { what: "parent category" }));
    }

    #[test]
    fn a_missing_parent_is_not_found() {
        let result =
            decide(&Category::default(), create(UserId::new(), Some(CategoryId::new())), CategoryContext::default());
        assert_eq!(result, Err(DomainError::NotFound { what: "parent category" }));
    }
}

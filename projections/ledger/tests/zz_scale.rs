mod common;
use cashflow_domain::UserId;
use cashflow_domain::movement::Direction;
use common::*;
#[tokio::test]
async fn scale() {
    for n in [5000u32, 10000, 20000] {
        let db = TestDb::new().await;
        let mut world = World::new();
        let owner = UserId::new();
        let account = world.open_account(owner, "Main", "EUR", "50");
        for i in 0..n {
            world.record(owner, account, Direction::Expense, "1.01", date("2026-10-05") - chrono::Days::new((i % 60) as u64));
        }
        let t = std::time::Instant::now();
        db.apply(&world.events).await;
        println!("n={n}: {:?}", t.elapsed());
        db.drop().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let r = model_1::Record0 { id: 1, name: "x".into(), tags: vec![], inner: None };
    println!("{}", model_1::describe0(&r));
    let _ = (model_2::Record0 { id: 2, name: "y".into(), tags: vec![], inner: Some(model_2::Inner0::C) }, model_3::Command::Check);
    let _ = (model_4::Command::Check, model_5::Command::Check, model_6::Command::Check);
}

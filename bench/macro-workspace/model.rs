// One model crate: derives and attribute macros, as a real crate has them. Each model-N crate
// includes this file (the same source compiled six times, as six crates).
use clap::Parser;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record0 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner0>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner0 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe0(r: &Record0) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record1 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner1>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner1 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe1(r: &Record1) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record2 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner2>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner2 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe2(r: &Record2) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record3 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner3>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner3 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe3(r: &Record3) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record4 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner4>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner4 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe4(r: &Record4) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record5 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner5>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner5 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe5(r: &Record5) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record6 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner6>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner6 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe6(r: &Record6) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record7 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner7>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner7 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe7(r: &Record7) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record8 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner8 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe8(r: &Record8) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record9 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner9>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner9 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe9(r: &Record9) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record10 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner10>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner10 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe10(r: &Record10) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Record11 {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub inner: Option<Inner11>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner11 {
    A { x: i32 },
    B { y: String },
    C,
}

#[tracing::instrument]
pub fn describe11(r: &Record11) -> String {
    format!("{} {}", r.id, r.name)
}

#[derive(Parser, Debug)]
#[clap(name = env!("CARGO_PKG_NAME"))]
pub struct Options {
    #[clap(long)]
    pub verbose: bool,
    #[clap(long, default_value = "8")]
    pub jobs: usize,
    #[clap(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    Run { #[clap(long)] dry: bool },
    Check,
}

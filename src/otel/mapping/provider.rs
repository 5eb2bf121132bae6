//! `gen_ai.provider.name` normalisation.

/// 1.4.0's table: the provider lower-cased and stripped of non-alphanumerics, matched exactly; anything else is sent
/// lower-cased as it was.
pub fn normalize_mastra(provider: &str) -> String {
  let key: String = provider
    .to_lowercase()
    .chars()
    .filter(|c| c.is_ascii_alphanumeric())
    .collect();
  lookup(&key).map_or_else(|| provider.to_lowercase(), str::to_string)
}

/// The conventions' well-known values, also for AI-SDK ids such as `openai.chat`, `anthropic.messages`,
/// `google.generative-ai` or `amazon-bedrock`: the part before the first `.` decides.
pub fn normalize_latest(provider: &str) -> String {
  let lower = provider.to_lowercase();
  let head = lower.split('.').next().unwrap_or(&lower);
  let key: String = head.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
  let full: String = lower.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
  let google = match full.as_str() {
    "googlegenerativeai" | "googlegenerativeaichat" => Some("gcp.gemini"),
    "googlevertex" | "googlevertexchat" | "vertex" => Some("gcp.vertex_ai"),
    _ => None,
  };
  google
    .or_else(|| lookup(&full))
    .or_else(|| lookup(&key))
    .or(match key.as_str() {
      "google" => Some("gcp.gen_ai"),
      "amazon" => Some("aws.bedrock"),
      "moonshot" | "moonshotai" => Some("moonshot_ai"),
      _ => None,
    })
    .map_or(lower, str::to_string)
}

fn lookup(key: &str) -> Option<&'static str> {
  Some(match key {
    "anthropic" | "claude" => "anthropic",
    "awsbedrock" | "bedrock" | "amazonbedrock" => "aws.bedrock",
    "azureaiinference" => "azure.ai.inference",
    "azureaiopenai" | "azureopenai" | "azure" | "msopenai" => "azure.ai.openai",
    "cohere" => "cohere",
    "deepseek" => "deepseek",
    "gcpgemini" | "gemini" => "gcp.gemini",
    "gcpgenai" | "googlegenai" | "googleai" => "gcp.gen_ai",
    "gcpvertexai" | "vertexai" => "gcp.vertex_ai",
    "groq" => "groq",
    "ibmwatsonxai" | "watsonx" | "ibmwatsonx" => "ibm.watsonx.ai",
    "mistralai" | "mistral" => "mistral_ai",
    "openai" | "oai" => "openai",
    "perplexity" | "pplx" => "perplexity",
    "xai" | "grok" => "x_ai",
    _ => return None,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn mastra_mode_matches_exactly_and_keeps_ai_sdk_ids() {
    for (input, want) in [
      ("OpenAI", "openai"),
      ("claude", "anthropic"),
      ("Amazon-Bedrock", "aws.bedrock"),
      ("openai.chat", "openai.chat"),
      ("mock-provider", "mock-provider"),
    ] {
      assert_eq!(normalize_mastra(input), want, "{input}");
    }
  }

  #[test]
  fn latest_mode_normalises_ai_sdk_ids() {
    for (input, want) in [
      ("openai.chat", "openai"),
      ("openai.responses", "openai"),
      ("anthropic.messages", "anthropic"),
      ("google.generative-ai", "gcp.gemini"),
      ("google.vertex.chat", "gcp.vertex_ai"),
      ("amazon-bedrock", "aws.bedrock"),
      ("mistral.chat", "mistral_ai"),
      ("xai.chat", "x_ai"),
      ("groq.chat", "groq"),
      ("azure-openai", "azure.ai.openai"),
      ("moonshotai.chat", "moonshot_ai"),
      ("mock-provider", "mock-provider"),
    ] {
      assert_eq!(normalize_latest(input), want, "{input}");
    }
  }
}

#include "server/wiring.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config_loader.hpp"
#include "session/conversation_expiry.hpp"
#include "session/realtime_session.hpp"
#include "session/twilio_bridge.hpp"
#include "server/twilio_admission.hpp"
#include "server/upgrade_admission.hpp"
#include "speech/local_speech_to_text.hpp"
#include "speech/espeak_text_to_speech.hpp"
#include "speech/openai_speech_to_text.hpp"
#include "speech/openai_text_to_speech.hpp"
#include "upstream/provider_kinds.hpp"
#include "upstream/upstream_engine.hpp"

namespace voxgate::server {

namespace {

// A phone call: the bridge creates its session engine on Twilio's `start`, with the model
// of customParameters.model. Calls never resume (Twilio URLs carry no query).
std::shared_ptr<session::ClientHandler> make_twilio_bridge(session::ClientLink& link, Shard& shard,
                                                           const UpgradeInfo& upgrade) {
    auto params = std::make_shared<session::SessionParams>(session::SessionParams{
        "", "", upgrade.key, upgrade.peer_address, upgrade.session_lease, nullptr});
    const session::RealtimeContext& context = *shard.realtime_context();
    auto make_session = [&context, params](session::SessionEvents& bridge, std::string model,
                                           std::string& refusal) -> std::shared_ptr<session::SessionControl> {
        // With auth.mode api_keys the key was checked for the default model only.
        const auto& effective = model.empty() ? context.sessions.default_model : model;
        if (params->key && !auth::allows_model(*params->key, effective)) {
            refusal = "key '" + params->key->name + "' may not use model '" + effective.substr(0, 80) + "'";
            return nullptr;
        }
        params->model = std::move(model);
        return std::make_shared<session::SessionEngine>(bridge, context, std::move(*params));
    };
    return std::make_shared<session::TwilioBridge>(link, shard.io_context().get_executor(), std::move(make_session),
                                                   &shard.metrics());
}

}  // namespace

void wire_gateway(Runtime& runtime) {
    auto& gateway = runtime.context();
    // One immutable default settings object for every session; copied only on session.update.
    auto preset = std::make_shared<const protocol::SessionSettings>(
        protocol::SessionSettings::from_config(gateway.config.sessions));
    const auto& speech = gateway.config.speech_to_text;
    const auto& voice = gateway.config.text_to_speech;
    if (speech.kind == "pocketsphinx" || voice.kind == "espeak")
        gateway.compute_pool = std::make_unique<asio::thread_pool>(gateway.config.compute.threads);
    if (speech.kind == "pocketsphinx")
        gateway.speech_to_text =
            std::make_unique<speech::LocalSpeechToText>(*gateway.compute_pool, speech.model_dir, speech.max_pending);
    if (voice.kind == "espeak") gateway.espeak = std::make_unique<speech::EspeakEngine>(*gateway.compute_pool, voice);
    for (auto& shard_ptr : runtime.shards()) {
        auto& shard = *shard_ptr;
        auto engine = std::make_shared<upstream::UpstreamEngine>(shard.io_context(), gateway.config, &shard.metrics());
        shard.set_responses(engine);
        if (speech.kind == "openai")
            shard.set_speech_to_text(std::make_unique<speech::OpenAiSpeechToText>(engine->multi(), speech, &shard.metrics()));
        if (voice.kind == "espeak")
            shard.set_text_to_speech(std::make_unique<speech::EspeakTextToSpeech>(*gateway.espeak, &shard.metrics()));
        if (voice.kind == "openai")
            shard.set_text_to_speech(
                std::make_unique<speech::OpenAiTextToSpeech>(engine->multi(), voice, &shard.metrics()));
        shard.set_realtime_context(std::make_unique<session::RealtimeContext>(session::RealtimeContext{
            .sessions = gateway.config.sessions,
            .limits = gateway.config.limits,
            .registry = gateway.registry,
            .responses = *engine,
            .executor = shard.io_context().get_executor(),
            .metrics = &shard.metrics(),
            .preset = preset,
            .refusing_new_work = &gateway.refusing_new_work,
            .resume_failures = gateway.resume_failures.get(),
            .speech_to_text = speech.kind == "openai" ? shard.speech_to_text() : gateway.speech_to_text.get(),
            .text_to_speech = shard.text_to_speech(),
            .speech_piece_chars = voice.max_piece_chars,
        }));
    }
    auto& first = *runtime.shards().front();
    first.set_conversation_expiry(std::make_unique<session::ConversationExpiry>(
        first.io_context(), gateway.registry, gateway.config.sessions.resume_ttl));

    // The WebSocket endpoint table: path -> who may connect -> the protocol handler.
    gateway.ws_endpoints.push_back(WsEndpoint{
        .path = std::string(realtime_path),
        .metrics_path = metrics::HttpPath::realtime,
        .admit = admit_upgrade,
        .make_handler = [](session::ClientLink& link, Shard& shard,
                           const UpgradeInfo& upgrade) -> std::shared_ptr<session::ClientHandler> {
            std::string model = query_value(upgrade.query, "model");
            if (model.empty() && upgrade.grant) model = upgrade.grant->model;
            return std::make_shared<session::RealtimeSession>(
                link, *shard.realtime_context(),
                session::SessionParams{std::move(model), query_value(upgrade.query, "session_id"), upgrade.key,
                                       upgrade.peer_address, upgrade.session_lease,
                                       upgrade.grant ? upgrade.grant->settings : nullptr});
        },
    });
    if (gateway.config.twilio.enabled)
        gateway.ws_endpoints.push_back(WsEndpoint{
            .path = std::string(twilio_path),
            .metrics_path = metrics::HttpPath::twilio,
            .admit = admit_twilio_upgrade,
            .make_handler = make_twilio_bridge,
        });
}

namespace {

// espeak-ng-data holds phontab; espeak-ng accepts the directory itself or the one holding it.
bool espeak_data_present(const std::string& data_dir) {
    namespace fs = std::filesystem;
    std::error_code ignored;
    auto has_data = [&](const fs::path& dir) {
        return fs::exists(dir / "phontab", ignored) || fs::exists(dir / "espeak-ng-data" / "phontab", ignored);
    };
    if (!data_dir.empty()) return has_data(data_dir);
    if (const char* path = std::getenv("ESPEAK_DATA_PATH"); path && has_data(path)) return true;
    // Debian builds the multiarch library directory in; other builds use /usr/share.
    for (const auto& entry : fs::directory_iterator("/usr/lib", ignored))
        if (entry.is_directory(ignored) && has_data(entry.path() / "espeak-ng-data")) return true;
    return has_data("/usr/share/espeak-ng-data") || has_data("/usr/local/share/espeak-ng-data");
}

}  // namespace

namespace {

// No route reaches a real provider with its key: every reply comes from the demo provider.
bool serves_only_demo(const Config& config) {
    for (const auto& [model, providers] : config.routes)
        for (const auto& name : providers)
            for (const auto& provider : config.providers)
                if (provider.name == name && provider.usable() && !upstream::answers_locally(provider)) return false;
    return true;
}

}  // namespace

void log_provider_warnings(const Config& config) {
    if (config.twilio.enabled && !config.twilio.verifies_signatures())
        spdlog::warn("twilio: /v1/twilio runs UNSIGNED (no twilio.auth_token_env or auth_token_file): it admits {}, "
                     "not only Twilio",
                     config.auth.enabled() ? "any caller with a voxgate API key" : "anyone who reaches the port");
    // Loaded on first use, so a missing model would only show at the first spoken turn.
    if (config.speech_to_text.kind == "pocketsphinx" &&
        !std::filesystem::exists(std::filesystem::path(config.speech_to_text.model_dir) / "en-us.lm.bin"))
        spdlog::warn("speech-to-text: no pocketsphinx model in {} (install pocketsphinx-en-us or set "
                     "speech_to_text.model_dir); spoken turns will get transcription failures",
                     config.speech_to_text.model_dir);
    if (config.speech_to_text.kind == "openai" && !config.speech_to_text.api_key_env.empty() &&
        config.speech_to_text.api_key.empty())
        spdlog::warn("speech-to-text: ${} (speech_to_text.api_key_env) is not set; spoken turns will get "
                     "transcription failures",
                     config.speech_to_text.api_key_env);
    const auto& voice = config.text_to_speech;
    if (voice.kind == "espeak") {
        spdlog::info("text-to-speech: espeak-ng, voice {} at {} wpm, on the compute pool (loaded on first use)",
                     voice.voice, voice.rate_wpm);
        if (!espeak_data_present(voice.data_dir))
            spdlog::warn("text-to-speech: no espeak-ng data in {} (install espeak-ng-data or set "
                         "text_to_speech.data_dir); spoken replies will fail",
                         voice.data_dir.empty() ? "the usual places" : voice.data_dir);
    } else if (voice.kind == "openai") {
        spdlog::info("text-to-speech: {}/audio/speech, model {}, voice {}", voice.base_url, voice.model, voice.voice);
        if (!voice.api_key_env.empty() && voice.api_key.empty())
            spdlog::warn("text-to-speech: ${} (text_to_speech.api_key_env) is not set; spoken replies will fail",
                         voice.api_key_env);
    } else {
        spdlog::info("text-to-speech: off (text_to_speech.kind none)");
    }
    for (const auto& name : config::unusable_providers(config))
        spdlog::warn("provider \"{}\" is disabled: its API key variable is not set", name);
    // Routes whose every provider is disabled are served by the built-in demo provider.
    for (const auto& [model, providers] : config.routes) {
        bool any_usable = false;
        for (const auto& name : providers)
            for (const auto& provider : config.providers)
                if (provider.name == name && provider.usable() && !upstream::answers_locally(provider)) any_usable = true;
        if (!any_usable)
            spdlog::warn("DEMO MODE: route \"{}\" is served by the built-in demo provider (canned replies, no "
                         "model): no real provider with an API key is configured for it.",
                         model);
    }
    if (config.routes.empty())
        spdlog::warn("DEMO MODE: no routes configured; every model is served by the built-in demo provider");
    if (serves_only_demo(config) && config.speech_to_text.kind == "pocketsphinx" && voice.kind == "espeak")
        spdlog::warn("DEMO VOICE: speech is heard by PocketSphinx and spoken by espeak-ng, locally and offline, and "
                     "answered by the demo provider: set a provider key for a real model, and speech_to_text / "
                     "text_to_speech for production voices");
}

}  // namespace voxgate::server

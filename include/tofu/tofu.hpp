#pragma once
#include <tofu/address.hpp>
#include <tofu/backend.hpp>
#include <tofu/engine.hpp>
#include <tofu/message.hpp>
#include <tofu/result.hpp>
#include <tofu/status.hpp>
#include <tofu/version.hpp>

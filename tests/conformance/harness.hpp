#pragma once
// The conformance harness: written once, used by every scenario, for every
// backend. One include for a test file; the parts by subject:
//
//  * fixture.hpp: BackendTest (a backend this build lacks is skipped by
//    name, never passed silently), time limits, work scale, waiting helpers.
//  * messages.hpp: what a message or notification says; making messages.
//  * group.hpp: the auditing Group, listen/connect, round trips, the usual
//    two-engine set-up.
//  * payloads.hpp: deterministic payloads and streams, checked byte for byte.
#include "fixture.hpp"
#include "group.hpp"
#include "messages.hpp"
#include "payloads.hpp"

// What the scenarios lean on from the standard library: one include serves a
// test file.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

// Opens a page written by `xunit-viewer -r in.xml -o out.html` in jsdom, runs its scripts
// (the React app with the XML embedded) and prints, as JSON, what the page shows: each
// suite's status counts and each test card the page rendered (name, status class, icon).
// Used by tests/test_junit_viewers.py; jsdom is found through NODE_PATH (npm root -g).
//
// Usage: node xunit_viewer_dom.cjs PAGE.html
"use strict";

const fs = require("fs");
const { JSDOM, VirtualConsole } = require("jsdom");

const errors = [];
const virtualConsole = new VirtualConsole();
virtualConsole.on("jsdomError", (e) => errors.push(String(e && e.message)));

const dom = new JSDOM(fs.readFileSync(process.argv[2], "utf8"), {
  runScripts: "dangerously",
  pretendToBeVisual: true,
  url: "http://localhost/",
  virtualConsole,
  beforeParse(window) {
    // The page renders a card only once it is scrolled into view; here everything is.
    window.IntersectionObserver = class {
      constructor(callback) {
        this.callback = callback;
      }
      observe(target) {
        this.callback([{ isIntersecting: true, intersectionRatio: 1, target }]);
      }
      unobserve() {}
      disconnect() {}
    };
    window.matchMedia = () => ({
      matches: false,
      addListener() {},
      removeListener() {},
      addEventListener() {},
      removeEventListener() {},
    });
    window.scrollTo = () => {};
  },
});
const document = dom.window.document;
const icons = (element) =>
  [...element.querySelectorAll("svg[data-icon], i[class*='fa-']")].map(
    (icon) => icon.getAttribute("data-icon") || icon.getAttribute("class"),
  );

function snapshot() {
  return {
    errors,
    suites: [...document.querySelectorAll(".card.suite")].map((suite) => ({
      title: suite.querySelector(".card-header-title span").textContent,
      classes: suite.getAttribute("class").split(/\s+/),
      counts: [...suite.querySelectorAll(".suite-count")].map((count) => ({
        icon: icons(count)[0] || null,
        count: Number(count.textContent.trim()),
      })),
      tests: [...suite.querySelectorAll(".card.test")].map((test) => ({
        name: test.querySelector(".card-header-title > span:not(.icon)").textContent,
        classes: test.getAttribute("class").split(/\s+/),
        icon: icons(test.querySelector(".card-header-title"))[0] || null,
        text: (test.querySelector(".card-content") || { textContent: "" }).textContent,
      })),
    })),
  };
}

// Wait until the page has drawn its suites and the number of test cards stays the same.
const started = Date.now();
let last = -1;
let steady = 0;
const timer = setInterval(() => {
  const suites = document.querySelectorAll(".card.suite").length;
  const tests = document.querySelectorAll(".card.test").length;
  steady = suites > 0 && tests === last ? steady + 1 : 0;
  last = tests;
  if (steady >= 5 || Date.now() - started > 30000) {
    clearInterval(timer);
    process.stdout.write(JSON.stringify(snapshot()) + "\n");
    process.exit(0);
  }
}, 100);

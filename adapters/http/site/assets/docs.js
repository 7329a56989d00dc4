// Renders the API reference from the spec this server serves, with the
// vendored Swagger UI. Nothing is fetched from another host: the validator
// badge (validator.swagger.io) is off, and "Try it out" calls this origin
// (the spec declares no servers).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();

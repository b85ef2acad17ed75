// Bootstrap for the embedded GraphiQL page (served from /graphiql/graphiql-init.js).
// Kept out of the HTML so the page's Content-Security-Policy needs no inline
// script. Configuration comes from data- attributes on #graphiql, which the Go
// html/template writes with attribute escaping:
//   data-endpoint               GraphQL URL (same origin) queries are POSTed to
//   data-subscription-endpoint  optional websocket URL or path for subscriptions
//   data-default-headers        optional JSON text prefilled in the headers editor
(function () {
  'use strict';

  var root = document.getElementById('graphiql');
  var cfg = root.dataset;

  // A path such as "/graphql/ws" becomes ws(s)://<this host>/graphql/ws.
  function websocketURL(s) {
    var u = new URL(s, window.location.href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.toString();
  }

  var fetcherOptions = { url: cfg.endpoint };
  if (cfg.subscriptionEndpoint) {
    fetcherOptions.subscriptionUrl = websocketURL(cfg.subscriptionEndpoint);
  }

  var props = {
    fetcher: GraphiQL.createFetcher(fetcherOptions),
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
  };
  if (cfg.defaultHeaders) {
    props.defaultHeaders = cfg.defaultHeaders;
  }

  ReactDOM.createRoot(root).render(
    React.createElement(
      GraphiQL,
      props,
      React.createElement(GraphiQL.Logo, null, document.title),
    ),
  );
})();
